"""The core every service stands on: who the caller is (access), the service context, the
journal of multi-step operations, quotas, the backend Protocols, server parts, node
interface names and the change feed."""

from __future__ import annotations

from labcloud.services.core.access import (
    ADMIN_PROJECT,
    ROLES,
    Caller,
    admin_only,
    current_caller,
    implies,
    writes,
)
from labcloud.services.core.changes import ChangeFeed
from labcloud.services.core.context import ServiceContext, find, record_event
from labcloud.services.core.findings import Finding
from labcloud.services.core.interfaces import (
    DomainStateView,
    Hypervisor,
    L3Agent,
    NetworkAgent,
    NodeAgent,
    SerialConsole,
    VolumeBackend,
    VolumeExporter,
)
from labcloud.services.core.journal import FAULT_ENV, Journal, OperationHandle
from labcloud.services.core.netnames import dhcp_netns, short
from labcloud.services.core.quota_usage import COUNTERS, RESOURCES, usage
from labcloud.services.core.quotas import QuotaService, charge
from labcloud.services.core.server_parts import CreateRequest, Devices, ServerPart

__all__ = [
    "ADMIN_PROJECT",
    "COUNTERS",
    "FAULT_ENV",
    "RESOURCES",
    "ROLES",
    "Caller",
    "ChangeFeed",
    "CreateRequest",
    "Devices",
    "DomainStateView",
    "Finding",
    "Hypervisor",
    "Journal",
    "L3Agent",
    "NetworkAgent",
    "NodeAgent",
    "OperationHandle",
    "QuotaService",
    "SerialConsole",
    "ServerPart",
    "ServiceContext",
    "VolumeBackend",
    "VolumeExporter",
    "admin_only",
    "charge",
    "current_caller",
    "dhcp_netns",
    "find",
    "implies",
    "record_event",
    "short",
    "usage",
    "writes",
]

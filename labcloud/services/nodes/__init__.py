"""Nodes: the machines labcloud drives (enrolled, probed, reached over SSH), their
interfaces, the networks plumbed onto them, and the scheduler that ranks them."""

from __future__ import annotations

from labcloud.services.nodes.interfaces import NodeTransport
from labcloud.services.nodes.models import LOCAL
from labcloud.services.nodes.networks import plumb, unplumb
from labcloud.services.nodes.scheduler import (
    Candidate,
    Demand,
    Ratios,
    schedule,
)
from labcloud.services.nodes.service import NodeService

__all__ = [
    "LOCAL",
    "Candidate",
    "Demand",
    "NodeService",
    "NodeTransport",
    "Ratios",
    "plumb",
    "schedule",
    "unplumb",
]

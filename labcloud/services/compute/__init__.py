"""Compute (Nova): servers and their lifecycle, flavors, keypairs, the cloud-init seed,
placement onto nodes, resize and migration, `server ssh`, and `labcloud doctor`."""

from __future__ import annotations

from labcloud.services.compute.cloud_init import (
    SeedPart,
    network_config,
    seed_files,
    user_data,
)
from labcloud.services.compute.doctor import DoctorService
from labcloud.services.compute.flavors import FlavorService
from labcloud.services.compute.keypairs import KeypairService, fingerprint, normalize_public_key
from labcloud.services.compute.migration import MigrationService
from labcloud.services.compute.placement import PlacementPart
from labcloud.services.compute.server_ssh import ServerSsh, ssh_argv
from labcloud.services.compute.service import ComputeService

__all__ = [
    "ComputeService",
    "DoctorService",
    "FlavorService",
    "KeypairService",
    "MigrationService",
    "PlacementPart",
    "SeedPart",
    "ServerSsh",
    "fingerprint",
    "network_config",
    "normalize_public_key",
    "seed_files",
    "ssh_argv",
    "user_data",
]

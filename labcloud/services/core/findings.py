"""What `labcloud doctor` reports: one disagreement between the store and the system.

Here, below every service, so that each service can contribute its own checks without
importing the doctor (which sits on top of compute)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    kind: str  # interrupted-operation, missing-domain, orphan-domain, orphan-disk
    resource: str
    detail: str
    repaired: bool

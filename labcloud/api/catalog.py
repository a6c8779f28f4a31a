"""Keystone's service catalog: one public endpoint per API service, in RegionOne.

The entries come from the registry (labcloud/api/registry.py), so a service that joins
the API is in the catalog with no other change.
"""

from __future__ import annotations

import uuid

REGION = "RegionOne"


def _id(kind: str, name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"labcloud:{kind}:{name}").hex


def catalog(base_url: str) -> list[dict[str, object]]:
    from labcloud.api.registry import SERVICES

    entries: list[dict[str, object]] = []
    for api in SERVICES:
        url = base_url + api.prefix + api.version_path
        for kind in (api.type, *api.extra_types):
            entries.append(
                {
                    "id": _id("service", kind),
                    "type": kind,
                    "name": api.name,
                    "endpoints": [
                        {
                            "id": _id("endpoint", kind),
                            "interface": "public",
                            "region": REGION,
                            "region_id": REGION,
                            "url": url,
                        }
                    ],
                }
            )
    return entries

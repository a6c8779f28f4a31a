"""Timestamps as OpenStack's APIs write them."""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def keystone_time(when: datetime) -> str:
    """Keystone's tokens: RFC 3339 with microseconds and Z, 2026-12-02T14:00:00.000000Z."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_time(when: datetime) -> str:
    """Nova, Neutron, Glance and Cinder resources: 2026-12-02T14:00:00Z."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")

"""The network service's routing and filtering tables: routers, floating IPs, security groups."""

from __future__ import annotations

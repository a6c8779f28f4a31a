"""The OpenStack services the API serves, in catalog order. A service joins the API (and
the catalog) by adding its module's API here."""

from __future__ import annotations

from labcloud.api import compute, identity, image, network
from labcloud.api.http import ApiService

SERVICES: tuple[ApiService, ...] = (identity.API, compute.API, image.API, network.API)

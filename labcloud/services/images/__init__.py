"""Images (Glance): imported, checked and converted images, in every format labcloud reads."""

from __future__ import annotations

from labcloud.services.images.formats import detect, plan_import
from labcloud.services.images.service import ImageService

__all__ = [
    "ImageService",
    "detect",
    "plan_import",
]

"""Every command module registers itself on import."""

from labcloud.cli.commands import console, flavor, image, server, status  # noqa: F401

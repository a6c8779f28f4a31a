"""Every table module, imported once so SQLModel.metadata knows the whole schema.

Alembic's env and the schema test use this; each service's tables live in their own module.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from labcloud.db import (  # noqa: F401
    export_models,
    identity_models,
    l3_models,
    models,
    network_models,
    node_models,
    stack_models,
    volume_models,
)

metadata = SQLModel.metadata

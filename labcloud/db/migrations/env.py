"""Alembic environment: uses the engine labcloud hands over, never a config file."""

from __future__ import annotations

from alembic import context

from labcloud.db.schema import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

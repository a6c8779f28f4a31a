"""Alembic migrations for the state store, applied automatically on start."""

# The newest revision. A unit test checks it against Alembic's own view of the scripts,
# so the start-up fast path can compare without importing Alembic.
HEAD_REVISION = "0011"

"""volumes and snapshots

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _resource_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "volumes",
        *_resource_columns(),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("volume_type", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("bootable", sa.Boolean(), nullable=False),
        sa.Column("source_image_id", sa.String(length=36), nullable=True),
        sa.Column("snapshot_id", sa.String(length=36), nullable=True),
        sa.Column("source_volid", sa.String(length=36), nullable=True),
        sa.Column("volume_image_metadata", sa.String(), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=True),
        sa.Column("device", sa.String(length=16), nullable=True),
        sa.Column("boot_index", sa.Integer(), nullable=True),
        sa.Column("delete_on_termination", sa.Boolean(), nullable=False),
        sa.Column("attached_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_volumes_project_name"),
        sa.UniqueConstraint("server_id", "device", name="uq_volumes_server_device"),
    )
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volumes_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_volumes_server_id"), ["server_id"], unique=False)

    op.create_table(
        "volume_snapshots",
        *_resource_columns(),
        sa.Column("volume_id", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_volume_snapshots_project_name"),
    )
    with op.batch_alter_table("volume_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_volume_snapshots_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_volume_snapshots_volume_id"), ["volume_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("volume_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_snapshots_volume_id"))
        batch_op.drop_index(batch_op.f("ix_volume_snapshots_project_id"))
    op.drop_table("volume_snapshots")
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volumes_server_id"))
        batch_op.drop_index(batch_op.f("ix_volumes_project_id"))
    op.drop_table("volumes")

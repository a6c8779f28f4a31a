"""stacks and the resources they own

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stacks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("parameters", sa.String(), nullable=False),
        sa.Column("outputs", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_stacks_project_name"),
    )
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stacks_project_id"), ["project_id"], unique=False)

    op.create_table(
        "stack_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stack_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.String(), nullable=False),
        sa.Column("extra", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["stack_id"], ["stacks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stack_id", "kind", "name", name="uq_stack_resources_stack_kind_name"),
    )
    with op.batch_alter_table("stack_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stack_resources_stack_id"), ["stack_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_stack_resources_resource_id"), ["resource_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stack_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stack_resources_resource_id"))
        batch_op.drop_index(batch_op.f("ix_stack_resources_stack_id"))
    op.drop_table("stack_resources")
    with op.batch_alter_table("stacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stacks_project_id"))
    op.drop_table("stacks")

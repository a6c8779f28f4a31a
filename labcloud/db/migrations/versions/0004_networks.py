"""networks, subnets, ports and fixed IPs

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _resource_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "networks",
        *_resource_columns(),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("provider_network_type", sa.String(length=8), nullable=False),
        sa.Column("provider_segment", sa.Integer(), nullable=True),
        sa.Column("provider_physical_network", sa.String(length=64), nullable=True),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("bridge", sa.String(length=15), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_networks_project_name"),
        sa.UniqueConstraint(
            "provider_network_type", "provider_segment", name="uq_networks_segment"
        ),
    )
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_networks_project_id"), ["project_id"], unique=False)

    op.create_table(
        "subnets",
        *_resource_columns(),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("network_id", sa.String(), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("gateway_ip", sa.String(length=64), nullable=True),
        sa.Column("allocation_pools", sa.String(), nullable=False),
        sa.Column("dns_nameservers", sa.String(), nullable=False),
        sa.Column("host_routes", sa.String(), nullable=False),
        sa.Column("enable_dhcp", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("network_id", "name", name="uq_subnets_network_name"),
    )
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnets_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnets_project_id"), ["project_id"], unique=False)

    op.create_table(
        "ports",
        *_resource_columns(),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("network_id", sa.String(), nullable=False),
        sa.Column("mac_address", sa.String(length=17), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("device_owner", sa.String(length=64), nullable=False),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("tap", sa.String(length=15), nullable=False),
        sa.Column("auto_delete", sa.Boolean(), nullable=False),
        sa.Column("device_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mac_address", name="uq_ports_mac_address"),
    )
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ports_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ports_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ports_project_id"), ["project_id"], unique=False)

    op.create_table(
        "ip_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("port_id", sa.String(), nullable=False),
        sa.Column("subnet_id", sa.String(), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["port_id"], ["ports.id"]),
        sa.ForeignKeyConstraint(["subnet_id"], ["subnets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subnet_id", "ip_address", name="uq_ipalloc_subnet_ip"),
    )
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ip_allocations_port_id"), ["port_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ip_allocations_subnet_id"), ["subnet_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("ip_allocations")
    op.drop_table("ports")
    op.drop_table("subnets")
    op.drop_table("networks")

"""IPv6 subnets: Neutron's ipv6_ra_mode and ipv6_address_mode

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subnets") as batch:
        batch.add_column(sa.Column("ipv6_ra_mode", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("ipv6_address_mode", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subnets") as batch:
        batch.drop_column("ipv6_address_mode")
        batch.drop_column("ipv6_ra_mode")

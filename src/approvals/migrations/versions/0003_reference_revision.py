"""Reference revisions: the counters that tell each process when its cached calendar or agency directory is stale.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_revision",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_reference_revision")),
    )


def downgrade() -> None:
    op.drop_table("reference_revision")

"""Sign-in throttling by client address as well as user name: the address of each attempt, and
indexes to count by address and to prune old attempts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_failure") as batch:
        batch.add_column(sa.Column("address", sa.String(length=64), server_default="", nullable=False))
        batch.create_index("ix_login_failure_address_at", ["address", "created_at"])
        batch.create_index("ix_login_failure_created_at", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("login_failure") as batch:
        batch.drop_index("ix_login_failure_created_at")
        batch.drop_index("ix_login_failure_address_at")
        batch.drop_column("address")

"""Worker heartbeats: when each timer worker last finished a pass, for /healthz.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:00:00
"""

import sqlalchemy as sa
from alembic import op

import approvals.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("beat_at", approvals.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeat")),
    )
    op.create_index(op.f("ix_worker_heartbeat_beat_at"), "worker_heartbeat", ["beat_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_worker_heartbeat_beat_at"), table_name="worker_heartbeat")
    op.drop_table("worker_heartbeat")

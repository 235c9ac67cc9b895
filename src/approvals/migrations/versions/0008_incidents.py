"""Incidents: the engine failures that stopped instances, for owners and admins to see.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:30:00
"""

import sqlalchemy as sa
from alembic import op

import approvals.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("element", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", approvals.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", approvals.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", approvals.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_incident_status")),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name=op.f("fk_incident_instance_id_process_instance")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index("ix_incident_status_instance", "incident", ["status", "instance_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_status_instance", table_name="incident")
    op.drop_table("incident")

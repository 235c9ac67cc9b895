"""Notifications to people: a user's e-mail address and the notices they want, and the notices
waiting for the next mail.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:50:00
"""

import sqlalchemy as sa
from alembic import op

import approvals.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("notify", sa.JSON(), nullable=True))
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", approvals.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", approvals.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('arrived', 'due_soon', 'overdue', 'sent_back', 'assigned', 'substitute', 'decided')",
            name=op.f("ck_notification_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name=op.f("fk_notification_instance_id_process_instance")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_notification_task_id_task")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_notification_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index("ix_notification_unsent", "notification", ["sent_at", "user_id"])
    op.create_index("ix_notification_once", "notification", ["user_id", "kind", "task_id"])


def downgrade() -> None:
    op.drop_index("ix_notification_once", table_name="notification")
    op.drop_index("ix_notification_unsent", table_name="notification")
    op.drop_table("notification")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("notify")
        batch.drop_column("email")

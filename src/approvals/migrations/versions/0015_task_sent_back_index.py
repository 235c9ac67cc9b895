"""The steps sent back (退回), indexed by instance: every change asks whether its instance was ever
sent back, which otherwise reads the instance's whole history (issue 19: a loop of 1 000 rounds
made each step read 4 000 rows).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SENT_BACK_ROWS = "outcome = 'sent_back'"


def upgrade() -> None:
    op.create_index(
        "ix_task_sent_back",
        "task",
        ["instance_id"],
        sqlite_where=sa.text(SENT_BACK_ROWS),
        postgresql_where=sa.text(SENT_BACK_ROWS),
    )


def downgrade() -> None:
    op.drop_index("ix_task_sent_back", table_name="task")

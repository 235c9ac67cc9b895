"""Partial indexes on an instance's open items and on its steps sent back (退回): every change reads
the one and asks about the other, which otherwise read the instance's whole history (issue 19: a
loop of 1 000 rounds made each step read 4 000 rows, twice).

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

# As the models state them (models.OPEN_ROWS, SENT_BACK_ROWS): queries must name them the same way.
PARTIAL = {"ix_task_open": "state IN ('open', 'claimed')", "ix_task_sent_back": "outcome = 'sent_back'"}


def upgrade() -> None:
    for name, rows in PARTIAL.items():
        op.create_index(name, "task", ["instance_id"], sqlite_where=sa.text(rows), postgresql_where=sa.text(rows))


def downgrade() -> None:
    for name in PARTIAL:
        op.drop_index(name, table_name="task")

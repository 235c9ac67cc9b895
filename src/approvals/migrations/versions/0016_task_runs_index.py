"""The index on an instance's items by state also orders the runs of each step, latest first: the
four-eyes rule, a send back's target, a step's previous run and its clock after a send back read
those runs, and read the instance's whole history without it (issue 19). And an index on the
agencies of an instance's steps: who may read its files and history is asked on every page about
it; without it, SQLite chose to read every step of the agency, in every instance.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 13:15:00
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_task_instance_state", table_name="task")
    op.create_index("ix_task_instance_state", "task", ["instance_id", "state", "bpmn_id", "id"])
    op.create_index("ix_task_instance_agency", "task", ["instance_id", "agency_code"])


def downgrade() -> None:
    op.drop_index("ix_task_instance_agency", table_name="task")
    op.drop_index("ix_task_instance_state", table_name="task")
    op.create_index("ix_task_instance_state", "task", ["instance_id", "state"])

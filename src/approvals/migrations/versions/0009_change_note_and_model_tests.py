"""What a version carries beside its model: the publisher's change note (what changed and why)
and the model's test cases (start data, the steps with who does them, what must come out).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.add_column(sa.Column("change_note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("tests", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("tests")
        batch.drop_column("change_note")

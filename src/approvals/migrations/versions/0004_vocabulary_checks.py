"""The vocabulary in the database: CHECK constraints refuse an unknown task state or kind, instance
status or role (the values of the StrEnums in models.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:00:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Written out, not imported: a migration keeps the values it was written with.
CHECKS = {
    "user_account": {"role": ("staff", "lead", "owner", "admin", "observer")},
    "process_instance": {"status": ("running", "completed", "suspended", "terminated", "error")},
    "task": {"state": ("open", "claimed", "completed", "cancelled"), "kind": ("step", "reminder")},
}


def upgrade() -> None:
    for table, columns in CHECKS.items():
        # batch: SQLite adds a constraint by copying the table
        with op.batch_alter_table(table) as batch:
            for column, values in columns.items():
                listed = ", ".join(f"'{value}'" for value in values)
                batch.create_check_constraint(column, f"{column} IN ({listed})")


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")

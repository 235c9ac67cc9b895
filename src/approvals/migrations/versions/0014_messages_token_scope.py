"""A service account's token scope: ``messages`` tokens may only deliver messages.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 13:10:00
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_constraint(op.f("ck_api_token_scope"), type_="check")
        batch.create_check_constraint("scope", "scope IN ('api', 'web', 'messages')")


def downgrade() -> None:
    op.execute("DELETE FROM api_token WHERE scope = 'messages'")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_constraint(op.f("ck_api_token_scope"), type_="check")
        batch.create_check_constraint("scope", "scope IN ('api', 'web')")

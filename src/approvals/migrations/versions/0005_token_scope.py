"""Token scopes: a page session's token is kept apart from API tokens, so the API refuses it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=8), server_default="api", nullable=False))
        batch.create_check_constraint("scope", "scope IN ('api', 'web')")


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_constraint(op.f("ck_api_token_scope"), type_="check")
        batch.drop_column("scope")

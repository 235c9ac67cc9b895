"""Materials, substitutes and delegation, and sending a step back (a step may run again under its engine id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:32:34.885910
"""

import sqlalchemy as sa
from alembic import op

import approvals.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "substitution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("substitute_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", approvals.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("revoked_at", approvals.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_substitution_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["substitute_id"], ["user_account.id"], name=op.f("fk_substitution_substitute_id_user_account")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_substitution_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substitution")),
    )
    with op.batch_alter_table("substitution", schema=None) as batch_op:
        batch_op.create_index(
            "ix_substitution_substitute_dates", ["substitute_id", "starts_on", "ends_on"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_substitution_user_id"), ["user_id"], unique=False)

    op.create_table(
        "material",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document_number", sa.String(length=128), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", approvals.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", approvals.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name=op.f("fk_material_instance_id_process_instance")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], name=op.f("fk_material_task_id_task")),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["user_account.id"], name=op.f("fk_material_uploaded_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material")),
    )
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_material_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_material_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_material_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("on_behalf_of_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delegated_by_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_task_spiff_task_id"), type_="unique")
        batch_op.create_index("ix_task_spiff_task_id", ["spiff_task_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_task_on_behalf_of_id_user_account"), "user_account", ["on_behalf_of_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_task_delegated_by_id_user_account"), "user_account", ["delegated_by_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_task_delegated_by_id_user_account"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_task_on_behalf_of_id_user_account"), type_="foreignkey")
        batch_op.drop_index("ix_task_spiff_task_id")
        batch_op.create_unique_constraint(batch_op.f("uq_task_spiff_task_id"), ["spiff_task_id"])
        batch_op.drop_column("delegated_by_id")
        batch_op.drop_column("on_behalf_of_id")

    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_task_id"))
        batch_op.drop_index(batch_op.f("ix_material_sha256"))
        batch_op.drop_index(batch_op.f("ix_material_instance_id"))

    op.drop_table("material")
    with op.batch_alter_table("substitution", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substitution_user_id"))
        batch_op.drop_index("ix_substitution_substitute_dates")

    op.drop_table("substitution")

"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command

from approvals.migrate import alembic_config


def test_models_and_migrations_agree(database_url, database):
    command.check(alembic_config(database_url))  # raises when autogenerate would find a difference

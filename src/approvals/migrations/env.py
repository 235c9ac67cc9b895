"""Alembic environment: runs against the URL handed over by ``approvals.migrate``."""

from alembic import context

from approvals import models  # noqa: F401 - registers the tables on Base.metadata
from approvals.db import Base, make_engine

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # A batch migration copies a table and drops the old one; SQLite would check (and refuse) the
    # rows that refer to it in between. Foreign keys are switched off outside the transaction, as
    # SQLite requires, and checked as a whole before the migration commits.
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows that refer to nothing: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


run_migrations_online()

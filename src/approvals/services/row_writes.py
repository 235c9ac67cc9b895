"""The hot path's row writes as Core statements, with the ORM objects kept in step.

On every step, the unit of work's bookkeeping for the rows a change writes (the step's row, the
instance's, the steps it opens) cost more than the statements themselves (issue 19).

``flush`` writes each changed instance or task row with one cached ``UPDATE`` of the columns that
changed (on PostgreSQL, all of a change's rows in one statement, with the inserts it was given:
the change's events) — ``lock_version`` checked and bumped as the ORM does, ``StaleDataError``
when another writer got there first — then marks the objects clean. Anything it cannot write this
way (a collection changed) is left to the ORM.

``insert_row`` writes a new instance or task row with one ``INSERT … RETURNING id`` and attaches
the object as if it had been loaded (on PostgreSQL ``events.record_new`` writes a change's new rows
and their events in one statement instead, and attaches them with ``attach``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Insert, Select, Table, Update, bindparam, func, insert, inspect, literal, select, update
from sqlalchemy.orm import (
    MANYTOONE,
    ColumnProperty,
    InstanceState,
    RelationshipProperty,
    Session,
    make_transient_to_detached,
)
from sqlalchemy.orm.exc import StaleDataError

from ..db import is_postgres
from ..models import ProcessInstance, Task

WRITTEN_BY_CORE = (ProcessInstance, Task)


class Pending(NamedTuple):
    """An INSERT to send with the rows' UPDATEs (PostgreSQL): ``statement(prefix)`` builds it (once:
    cache it) with its parameters named ``prefix`` + the keys of ``values``."""

    statement: Callable[[str], Insert]
    values: dict[str, Any]


def flush(session: Session, pending: Sequence[Pending] = ()) -> None:
    """Write the changed instance and task rows of ``session`` with Core, then flush the rest. On
    PostgreSQL several rows go in one statement (one data-modifying CTE each), with the ``pending``
    inserts (only there: on SQLite the caller writes them itself)."""
    writes = [write for obj in session.dirty if isinstance(obj, WRITTEN_BY_CORE) and (write := _write_of(obj))]
    matched: tuple[int, ...]
    postgres = is_postgres(session)
    if pending and not postgres:
        raise ValueError("inserts go with the rows' statement on PostgreSQL only")
    if pending or (len(writes) > 1 and postgres):
        statement = _updates(tuple(w.shape for w in writes), tuple(p.statement for p in pending))
        params = _params(writes) | {f"p{n}_{name}": v for n, p in enumerate(pending) for name, v in p.values.items()}
        matched = tuple(session.connection().execute(statement, params).one())[: len(writes)]
    else:
        matched = tuple(session.connection().execute(_update(*w.shape), _params([w])).rowcount for w in writes)
    for write, count in zip(writes, matched, strict=True):
        if count != 1:
            raise StaleDataError(
                f"UPDATE statement on table '{write.shape[0].name}' expected to update 1 row(s); {count} were matched."
            )
        if write.shape[2]:
            write.state.dict["lock_version"] += 1
        # Private, but what SQLAlchemy itself calls once it wrote a row: the object is now as loaded.
        write.state._commit_all(write.state.dict, session.identity_map)
    session.flush()


class _Write(NamedTuple):
    state: InstanceState[Any]
    shape: tuple[Table, tuple[str, ...], bool]  # the table, the columns written, whether lock_version is checked
    values: dict[str, Any]


def _write_of(obj: ProcessInstance | Task) -> _Write | None:
    """The UPDATE of ``obj``'s changed columns; None when nothing changed or only the ORM can write
    them. (In these models an attribute is named as its column.)"""
    state: InstanceState[Any] = inspect(obj)
    if not state.persistent or not state.committed_state:
        return None
    values: dict[str, Any] = {"k_id": obj.id}
    for key in state.committed_state:
        prop = state.mapper.attrs[key]
        if isinstance(prop, ColumnProperty):
            values[key] = state.dict.get(key)
        elif isinstance(prop, RelationshipProperty) and prop.direction is MANYTOONE:
            related_id = _id_of(state.dict.get(key))
            if related_id is None and state.dict.get(key) is not None:
                return None  # a row not written yet
            (column,) = prop.local_columns
            values[column.name] = state.dict[column.name] = related_id
        else:
            return None
    versioned = state.mapper.version_id_col is not None  # lock_version
    if versioned:
        values["k_version"] = state.dict["lock_version"]
    columns = tuple(sorted(name for name in values if name not in ("k_id", "k_version")))
    return _Write(state, (_table(obj), columns, versioned), values)


def _params(writes: list[_Write]) -> dict[str, Any]:
    """The statements' parameters: each row's names prefixed with its place (see ``_update``)."""
    return {f"r{n}_{name}": value for n, write in enumerate(writes) for name, value in write.values.items()}


def insert_row(session: Session, obj: ProcessInstance | Task) -> None:
    """INSERT ``obj`` (new, not added to the session, the rows it names set by id) and attach it."""
    attach(session, obj, session.connection().execute(_insert(_table(obj)), values_to_insert(obj)).scalar_one())


def values_to_insert(obj: ProcessInstance | Task) -> dict[str, Any]:
    """The columns of new row ``obj``, its columns' defaults filled in (and set on it), so that the
    object holds every value it is written with."""
    values = {}
    for column in _table(obj).c:
        if column.name == "id":
            continue
        if column.name not in obj.__dict__:
            default: Any = column.default
            value = None if default is None else default.arg if default.is_scalar else default.arg(None)
            setattr(obj, column.name, value)
        values[column.name] = obj.__dict__[column.name]
    return values


def attach(session: Session, obj: ProcessInstance | Task, row_id: int) -> None:
    """``obj``, written as row ``row_id``, joins ``session`` as if it had been loaded from it."""
    obj.id = row_id
    make_transient_to_detached(obj)
    session.add(obj)


def _table(obj: ProcessInstance | Task) -> Table:
    return obj.__table__  # type: ignore[return-value]  # a Table, declared as FromClause


def _id_of(related: Any) -> int | None:
    identity = inspect(related).identity if related is not None else None
    return identity[0] if identity else None


# Built once per set of columns: building a statement costs about as much as running it.
@cache
def _update(table: Table, columns: tuple[str, ...], versioned: bool, place: int = 0) -> Update:
    stmt = update(table).where(table.c.id == bindparam(f"r{place}_k_id"))
    values: dict[str, Any] = {name: bindparam(f"r{place}_{name}", type_=table.c[name].type) for name in columns}
    if versioned:
        stmt = stmt.where(table.c.lock_version == bindparam(f"r{place}_k_version"))
        values["lock_version"] = table.c.lock_version + 1
    return stmt.values(values)


@cache
def _updates(
    shapes: tuple[tuple[Table, tuple[str, ...], bool], ...], inserts: tuple[Callable[[str], Insert], ...] = ()
) -> Select[Any]:
    """``WITH w0 AS (UPDATE … RETURNING id), w1 AS (…), p0 AS (INSERT …) SELECT (SELECT count(*)
    FROM w0), …``: the rows matched by each UPDATE, all run with the inserts by one statement
    (PostgreSQL runs every data-modifying CTE, read or not)."""
    written = [_update(*shape, place).returning(shape[0].c.id).cte(f"w{place}") for place, shape in enumerate(shapes)]
    counts = [select(func.count()).select_from(cte).scalar_subquery() for cte in written]
    stmt = select(*counts) if counts else select(literal(0))
    for place, statement in enumerate(inserts):
        stmt = stmt.add_cte(statement(f"p{place}_").cte(f"p{place}"))
    return stmt


@cache
def _insert(table: Table) -> Insert:
    return insert(table).returning(table.c.id)

"""The hot path's row writes as Core statements, with the ORM objects kept in step.

On every step, the unit of work's bookkeeping for the rows a change writes (the step's row, the
instance's, the steps it opens) cost more than the statements themselves (issue 19). ``flush``
writes each changed instance or task row with one cached ``UPDATE`` of the columns that changed —
``lock_version`` checked and bumped as the ORM does, ``StaleDataError`` when another writer got
there first — then marks the object clean; ``insert_row`` writes a new instance or task row with one
``INSERT … RETURNING id`` and attaches the object as if it had been loaded. Anything ``flush``
cannot write this way (a collection changed) is left to the ORM, which stays correct."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, Update, bindparam, insert, inspect, update
from sqlalchemy.orm import (
    MANYTOONE,
    ColumnProperty,
    InstanceState,
    RelationshipProperty,
    Session,
    make_transient_to_detached,
)
from sqlalchemy.orm.exc import StaleDataError

from ..models import ProcessInstance, Task

WRITTEN_BY_CORE = (ProcessInstance, Task)


def flush(session: Session) -> None:
    """Write the changed instance and task rows of ``session`` with Core, then flush the rest."""
    for obj in list(session.dirty):
        if isinstance(obj, WRITTEN_BY_CORE):
            write_row(session, obj)
    session.flush()


def write_row(session: Session, obj: ProcessInstance | Task) -> bool:
    """One UPDATE of ``obj``'s changed columns; False (nothing done) when only the ORM can write them.
    (In these models an attribute is named as its column.)"""
    state: InstanceState[Any] = inspect(obj)
    if not state.persistent or not state.committed_state:
        return False
    mapper, table = state.mapper, _table(obj)
    values: dict[str, Any] = {}
    for key in state.committed_state:
        prop = mapper.attrs[key]
        if isinstance(prop, ColumnProperty):
            values[key] = state.dict.get(key)
        elif isinstance(prop, RelationshipProperty) and prop.direction is MANYTOONE:
            related_id = _id_of(state.dict.get(key))
            if related_id is None and state.dict.get(key) is not None:
                return False  # a row not written yet
            (column,) = prop.local_columns
            values[column.name] = state.dict[column.name] = related_id
        else:
            return False
    versioned = mapper.version_id_col is not None  # lock_version
    params = {f"v_{name}": value for name, value in values.items()} | {"k_id": obj.id}
    if versioned:
        params["k_version"] = state.dict["lock_version"]
    result = session.connection().execute(_update(table, tuple(sorted(values)), versioned), params)
    if result.rowcount != 1:
        raise StaleDataError(
            f"UPDATE statement on table '{table.name}' expected to update 1 row(s); {result.rowcount} were matched."
        )
    if versioned:
        state.dict["lock_version"] += 1
    # Private, but what SQLAlchemy itself calls once it wrote a row: the object is now as loaded.
    state._commit_all(state.dict, session.identity_map)
    return True


def insert_row(session: Session, obj: ProcessInstance | Task) -> None:
    """INSERT ``obj`` (new, not added to the session) with its columns' defaults filled in here, so
    the object holds every value it was written with; then attach it to ``session`` as a loaded row."""
    state: InstanceState[Any] = inspect(obj)
    table = _table(obj)
    for relationship in state.mapper.relationships:  # a row it names by object: by id in the statement
        related = obj.__dict__.get(relationship.key)
        if related is not None and relationship.direction is MANYTOONE:
            (column,) = relationship.local_columns
            obj.__dict__[column.name] = _id_of(related)
    values = {}
    for column in table.c:
        if column.name == "id":
            continue
        if column.name not in obj.__dict__:
            default: Any = column.default
            value = None if default is None else default.arg if default.is_scalar else default.arg(None)
            setattr(obj, column.name, value)
        values[column.name] = obj.__dict__[column.name]
    obj.id = session.connection().execute(_insert(table), values).scalar_one()
    make_transient_to_detached(obj)
    session.add(obj)


def _table(obj: ProcessInstance | Task) -> Table:
    return obj.__table__  # type: ignore[return-value]  # a Table, declared as FromClause


def _id_of(related: Any) -> int | None:
    identity = inspect(related).identity if related is not None else None
    return identity[0] if identity else None


# Built once per set of columns: building a statement costs about as much as running it.
@cache
def _update(table: Table, columns: tuple[str, ...], versioned: bool) -> Update:
    stmt = update(table).where(table.c.id == bindparam("k_id"))
    values: dict[str, Any] = {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}
    if versioned:
        stmt = stmt.where(table.c.lock_version == bindparam("k_version"))
        values["lock_version"] = table.c.lock_version + 1
    return stmt.values(values)


@cache
def _insert(table: Table) -> Insert:
    return insert(table).returning(table.c.id)

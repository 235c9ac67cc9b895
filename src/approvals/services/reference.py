"""Reference data every step reads and people rarely change: the working-day calendar and the
agency directory. Each process keeps them in memory, keyed by the database's reference revision
(the sum of the ``reference_revision`` counters, bumped in the transaction of every change).

The revision rides along with the instance lock (``lock_instance``), so a step that reads a cached
table makes no statement of its own to learn that the cache is current; other transactions read
the revision with one small query. What a transaction learned is forgotten when it ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from ..models import ReferenceRevision

T = TypeVar("T")

# One cache per connection pool, i.e. per database (the engine and its read-only variant share it).
_CACHES: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, Any]]] = weakref.WeakKeyDictionary()
_KEY = "reference"  # in session.info: what this transaction read ({"revision": …, "changed": …, name: value})


def _seen(session: Session) -> dict[str, Any]:
    seen: dict[str, Any] = session.info.setdefault(_KEY, {})
    return seen


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_KEY, None)


# The reference revision as a scalar subquery, to add to a statement the caller runs anyway.
REVISION = select(func.coalesce(func.sum(ReferenceRevision.revision), 0)).scalar_subquery()
_READ_REVISION = select(REVISION)


def note_revision(session: Session, revision: int) -> None:
    """Remember the revision this transaction read along with another statement (``REVISION``)."""
    _seen(session).setdefault("revision", revision)


def cached(session: Session, name: str, build: Callable[[Session], T]) -> T:
    """``build(session)``, read once per transaction, and shared by the process's transactions
    while the reference revision stays the same."""
    seen = _seen(session)
    if name in seen:
        value: T = seen[name]
        return value
    if seen.get("changed"):  # this transaction changed reference data and may yet roll back
        value = seen[name] = build(session)
        return value
    if "revision" not in seen:
        seen["revision"] = session.scalar(_READ_REVISION)
    cache = _CACHES.setdefault(session.get_bind().pool, {})  # type: ignore[union-attr]  # an Engine here
    hit = cache.get(name)
    if hit is None or hit[0] != seen["revision"]:
        hit = cache[name] = (seen["revision"], build(session))
    value = seen[name] = hit[1]
    return value


def bump(session: Session, name: str) -> None:
    """Record a change of ``name`` in the changing transaction, so that every process rebuilds it;
    this transaction reads the tables afresh from here on."""
    row = session.get(ReferenceRevision, name, with_for_update=True) or ReferenceRevision(name=name, revision=0)
    row.revision += 1
    session.add(row)
    session.flush()
    session.info[_KEY] = {"changed": True}

"""Inbox views a user names and keeps: which filters, search and order (a saved query)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import SavedFilter, User
from ..text import msg, plain_text
from .errors import InvalidInput, NotFound

MAX_FILTERS = 20  # per user
MAX_NAME = 64
MAX_VALUE = 100
KEYS = ("q", "project", "process", "state", "sort")  # what an inbox query may hold


def list_filters(session: Session, user: User) -> list[SavedFilter]:
    return list(session.scalars(select(SavedFilter).where(SavedFilter.user_id == user.id).order_by(SavedFilter.name)))


def save_filter(session: Session, user: User, name: str, query: Mapping[str, str]) -> SavedFilter:
    """Keep the inbox query under ``name`` (replacing the user's view of that name)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= MAX_NAME or not plain_text(name):
        raise InvalidInput(msg("invalid filter"), {"name": [msg("1 to {largest}", largest=MAX_NAME)]})
    kept = {key: str(query[key]).strip()[:MAX_VALUE] for key in KEYS if str(query.get(key) or "").strip()}
    row = session.scalar(select(SavedFilter).where(SavedFilter.user_id == user.id, SavedFilter.name == name))
    if row is None:
        count = session.scalar(select(func.count()).where(SavedFilter.user_id == user.id)) or 0
        if count >= MAX_FILTERS:
            raise InvalidInput(
                msg("at most {n} saved filters; delete one first", n=MAX_FILTERS), {"name": [msg("too many")]}
            )
        row = SavedFilter(user_id=user.id, name=name)
        session.add(row)
    row.query = kept
    session.flush()
    return row


def delete_filter(session: Session, user: User, filter_id: int) -> None:
    row = session.get(SavedFilter, filter_id)
    if row is None or row.user_id != user.id:
        raise NotFound(msg("no saved filter {filter_id}", filter_id=filter_id))
    session.delete(row)
    session.flush()

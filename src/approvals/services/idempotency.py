"""Safe retries: a request carrying an Idempotency-Key is done once; a retry gets the first answer.

The key is reserved in the same transaction as the change it guards, so a retry arriving while the
first request runs waits on the key's unique index and then finds the stored answer (or, on
PostgreSQL, fails with a conflict and can retry again): never two changes for one key.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import IdempotencyKey, User
from ..text import msg
from .errors import InvalidInput

MAX_KEY_LENGTH = 200


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def replay(session: Session, user: User, key: str, print_: str) -> IdempotencyKey | None:
    """The stored answer for this key, or None when the key is new; 422 when it was used otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            msg("invalid Idempotency-Key"),
            {"Idempotency-Key": [msg("1-{MAX_KEY_LENGTH} characters", MAX_KEY_LENGTH=MAX_KEY_LENGTH)]},
        )
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key))
    if row is None:
        return None
    if row.fingerprint != print_:
        raise InvalidInput(
            msg("this Idempotency-Key was used for a different request"),
            {"Idempotency-Key": [msg("already used with another method, path or body")]},
        )
    return row


def reserve(session: Session, user: User, key: str, print_: str) -> IdempotencyKey:
    row = IdempotencyKey(user_id=user.id, key=key, fingerprint=print_)
    session.add(row)
    session.flush()  # takes the unique index entry now, before the change it guards
    return row


def remember(session: Session, row: IdempotencyKey, status_code: int, body: str) -> None:
    row.status_code = status_code
    row.response_body = body
    session.flush()

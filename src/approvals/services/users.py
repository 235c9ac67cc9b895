"""Users, passwords and API tokens (stored as SHA-256 hashes: a token is 256 random bits)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import WORK_ROLES, Agency, ApiToken, LoginFailure, Role, TokenScope, User, utcnow
from ..text import msg
from .authz import can_manage_users, require
from .errors import Conflict, InvalidInput, NotAuthenticated, TooManyAttempts

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
MIN_PASSWORD = 4
# Checked against when the username is unknown, so that timing does not reveal which names exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def create_user(
    session: Session, *, username: str, password: str, agency_code: str, role: str, display_name: str = ""
) -> User:
    errors: dict[str, list[str]] = {}
    if not USERNAME.match(username or ""):
        errors["username"] = [msg("2-64 letters, digits, '.', '_' or '-'")]
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = [msg("at least {n} characters", n=MIN_PASSWORD)]
    if role not in tuple(Role):
        errors["role"] = [msg("one of: {value}", value=", ".join(Role))]
    if session.get(Agency, agency_code) is None:
        errors["agency"] = [msg("unknown agency {agency!r}", agency=agency_code)]
    if errors:
        raise InvalidInput(msg("invalid user"), errors)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(msg("user {username!r} exists", username=username), {"username": [msg("already taken")]})
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        agency_code=agency_code,
        role=role,
        display_name=display_name or username,
    )
    session.add(user)
    session.flush()
    return user


# Sign-in throttling (password guessing) by growing delays, never a lock-out that anyone could
# impose on someone else: each attempt not yet known to have succeeded is a row; once a key has
# FREE_ATTEMPTS of them in the window, the next must wait 2, 4, 8… seconds after the last one, up to
# its cap. The keys: the user name from this client address (a guesser at one desk), the client
# address (one client trying many names), and the user name alone (many clients, one name; its cap
# is low, so the real user is slowed a little at worst, never locked out).
THROTTLE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Throttle:
    what: str
    free_attempts: int
    cap: timedelta


PAIR = Throttle("this user name from this address", 3, timedelta(minutes=15))
ADDRESS = Throttle("this address", 20, timedelta(minutes=15))
NAME = Throttle("this user name", 20, timedelta(seconds=60))


def _wait(throttle: Throttle, earlier: list[datetime], now: datetime) -> int:
    """Seconds still to wait, given the earlier attempts under one key (newest first)."""
    if len(earlier) < throttle.free_attempts:
        return 0
    delay = min(timedelta(seconds=2 ** (len(earlier) - throttle.free_attempts + 1)), throttle.cap)
    return max(0, int((earlier[0] + delay - now).total_seconds() + 0.999))


def begin_attempt(session: Session, username: str, address: str) -> int:
    """Record a sign-in attempt (in the caller's own short transaction, committed before the
    password is checked) and refuse it with TooManyAttempts while a throttle says wait. Recording
    before counting makes concurrent attempts count each other; old rows are pruned here."""
    now = utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.created_at < now - THROTTLE_WINDOW))
    attempt = LoginFailure(username=username[:64], address=address[:64], created_at=now)
    session.add(attempt)
    session.flush()
    recent = session.execute(
        select(LoginFailure.username, LoginFailure.address, LoginFailure.created_at)
        .where(
            LoginFailure.id != attempt.id,
            LoginFailure.created_at >= now - THROTTLE_WINDOW,
            (LoginFailure.username == attempt.username) | (LoginFailure.address == attempt.address),
        )
        .order_by(LoginFailure.created_at.desc(), LoginFailure.id.desc())
    ).all()
    keys = {
        PAIR: [at for name, addr, at in recent if name == attempt.username and addr == attempt.address],
        ADDRESS: [at for _, addr, at in recent if addr == attempt.address],
        NAME: [at for name, _, at in recent if name == attempt.username],
    }
    for throttle, earlier in keys.items():
        wait = _wait(throttle, earlier, now)
        if wait:
            raise TooManyAttempts(
                msg("too many failed sign-ins for {what}; try again in {wait} seconds", what=throttle.what, wait=wait),
                retry_after=wait,
            )
    return attempt.id


def end_attempt(session: Session, attempt_id: int) -> None:
    """The attempt succeeded: it no longer counts against anyone."""
    session.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        raise NotAuthenticated("wrong username or password")
    if not check_password_hash(user.password_hash, password):
        raise NotAuthenticated("wrong username or password")
    return user


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, days: int, scope: TokenScope = TokenScope.API) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=days)
    session.add(ApiToken(user_id=user.id, token_hash=_hash(token), expires_at=expires_at, scope=scope))
    session.flush()
    return token, expires_at


# Every API request runs one of these: built once (see instance_change._lock_statement).
_TOKEN = (
    select(User, ApiToken.scope, ApiToken.revoked_at, ApiToken.expires_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("hash"))
)
_USER = select(User).where(User.username == bindparam("username"))


def user_for_token(
    session: Session, token: str, scope: TokenScope | tuple[TokenScope, ...] = TokenScope.API
) -> User | None:
    """The user of a live token of that scope, or one of those scopes (a page session's token is no
    API token, and back)."""
    scopes = scope if isinstance(scope, tuple) else (scope,)
    row = session.execute(_TOKEN, {"hash": _hash(token)}).one_or_none()  # one query per request
    if row is None:
        return None
    user, token_scope, revoked_at, expires_at = row
    if token_scope not in scopes or revoked_at is not None or expires_at <= utcnow() or not user.active:
        return None
    return user


def revoke_token(session: Session, token: str) -> None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(_USER, {"username": username})


def list_users(session: Session, actor: User) -> list[User]:
    """Every account with its agency and role (admins)."""
    require(can_manage_users(actor), msg("only admins list users"))
    return list(session.scalars(select(User).order_by(User.agency_code, User.role, User.username)))


def colleagues(session: Session, user: User) -> list[User]:
    """Active staff and leads of the user's agency, the user excepted (to delegate a step to)."""
    return list(
        session.scalars(
            select(User)
            .where(
                User.agency_code == user.agency_code,
                User.id != user.id,
                User.active.is_(True),
                User.role.in_(WORK_ROLES),
            )
            .order_by(User.username)
        )
    )

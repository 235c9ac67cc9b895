"""Out of office: a user names a colleague who acts for them over a range of (Shenzhen) dates.

During the range the substitute sees the absent user's claimed steps in their own inbox and may
complete, send back or release them; the history then says "substitute for absent user". After the
range, or once revoked, the right is gone.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from .. import workdays
from ..models import Substitution, User, utcnow
from ..text import msg
from . import events
from .authz import can_manage_substitutes_of, may_take_steps, require
from .errors import Conflict, InvalidInput, NotFound
from .users import get_user

MAX_DAYS = 366


today = workdays.today  # substitutions run on Shenzhen dates


def create_substitution(
    session: Session, actor: User, *, substitute: str, starts_on: date, ends_on: date, username: str | None = None
) -> Substitution:
    user = actor if username in (None, actor.username) else get_user(session, username or "")
    if user is None:
        raise InvalidInput(msg("no user {username!r}", username=username), {"user": [msg("unknown user")]})
    require(
        can_manage_substitutes_of(actor, user),
        msg(
            "only {username}, a lead of {agency_code} or an admin may name a substitute for {username}",
            username=user.username,
            agency_code=user.agency_code,
        ),
    )
    errors: dict[str, list[str]] = {}
    stand_in = get_user(session, substitute or "")
    if stand_in is None or not stand_in.active:
        errors["substitute"] = ["unknown user"]
    elif stand_in.id == user.id:
        errors["substitute"] = ["cannot stand in for themselves"]
    elif not may_take_steps(stand_in, user.agency_code):
        errors["substitute"] = [f"must be staff or a lead of agency {user.agency_code}"]
    if ends_on < starts_on:
        errors["ends_on"] = ["must not be before starts_on"]
    elif (ends_on - starts_on).days >= MAX_DAYS:
        errors["ends_on"] = [f"a substitution lasts at most {MAX_DAYS} days"]
    elif ends_on < today():
        errors["ends_on"] = ["is in the past"]
    if errors or stand_in is None:
        raise InvalidInput(msg("invalid substitution"), errors)
    row = Substitution(
        user_id=user.id, substitute_id=stand_in.id, starts_on=starts_on, ends_on=ends_on, created_by_id=actor.id
    )
    session.add(row)
    session.flush()
    events.record(
        session,
        "substitution.created",
        actor,
        payload={
            "substitution": row.id,
            "user": user.username,
            "substitute": stand_in.username,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
        },
    )
    return row


def list_substitutions(session: Session, actor: User, username: str | None = None) -> list[Substitution]:
    """Substitutions for a user (default: the caller), and those where the caller stands in."""
    user = actor if username in (None, actor.username) else get_user(session, username or "")
    if user is None:
        raise NotFound(msg("no user {username!r}", username=username))
    require(
        can_manage_substitutes_of(actor, user),
        msg("you may not read the substitutions of {username}", username=user.username),
    )
    stmt = select(Substitution).where((Substitution.user_id == user.id) | (Substitution.substitute_id == user.id))
    return list(
        session.scalars(
            stmt.options(joinedload(Substitution.user), joinedload(Substitution.substitute)).order_by(
                Substitution.starts_on, Substitution.id
            )
        )
    )


def revoke_substitution(session: Session, substitution_id: int, actor: User) -> Substitution:
    row = session.get(Substitution, substitution_id)
    if row is None:
        raise NotFound(msg("substitution {substitution_id} not found", substitution_id=substitution_id))
    require(
        can_manage_substitutes_of(actor, row.user),
        msg("only the absent user, a lead of their agency or an admin may revoke it"),
    )
    if row.revoked_at is not None:
        raise Conflict(msg("substitution {substitution_id} is already revoked", substitution_id=substitution_id))
    row.revoked_at = utcnow()
    events.record(session, "substitution.revoked", actor, payload={"substitution": row.id})
    session.flush()
    return row


def absent_users_for(session: Session, substitute: User, on: date | None = None) -> list[int]:
    """Ids of the users ``substitute`` stands in for on ``on`` (default: today in Shenzhen)."""
    on = on or today()
    return list(
        session.scalars(
            select(Substitution.user_id).where(
                Substitution.substitute_id == substitute.id,
                Substitution.revoked_at.is_(None),
                Substitution.starts_on <= on,
                Substitution.ends_on >= on,
            )
        )
    )


def stands_in_for(session: Session, substitute: User, user_id: int | None) -> bool:
    return user_id is not None and user_id in absent_users_for(session, substitute)

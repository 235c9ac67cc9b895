"""Administering accounts on both databases: each change audited, bad input refused naming the
field and changing nothing, claimed steps handed back when their holder can no longer do them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from approvals.models import ApiToken, Event, Task, TaskState
from approvals.services import accounts, tasks, users
from approvals.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.factories import start, user


def events(session, type_: str) -> int:
    return session.scalar(select(func.count()).select_from(Event).where(Event.type == type_))


@pytest.mark.parametrize(
    ("change", "at_fault"),
    [
        (accounts.UserChange(role="boss"), "role"),
        (accounts.UserChange(agency_code="NOPE"), "agency"),
        (accounts.UserChange(display_name="  "), "display_name"),
        (accounts.UserChange(display_name="名" * 201), "display_name"),
    ],
)
def test_a_bad_change_is_refused_naming_the_field_and_changes_nothing(database, people, change, at_fault):
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        accounts.change_user(session, user(session, "admin"), "pnr", change)
    assert list(refused.value.errors) == [at_fault]
    with database.session(read_only=True) as session:
        pnr = user(session, "pnr")
        assert (pnr.agency_code, pnr.role, pnr.active) == ("PNR", "staff", True)
        assert events(session, "user.changed") == 0


def test_only_admins_administer_and_unknown_users_are_not_found(database, people):
    with database.session() as session:
        with pytest.raises(Forbidden):
            accounts.change_user(session, user(session, "pnr_lead"), "pnr", accounts.UserChange(role="lead"))
        with pytest.raises(Forbidden):
            accounts.add_user(
                session, user(session, "owner"), username="x1", password="xxxx", agency_code="PNR", role="staff"
            )
        with pytest.raises(NotFound):
            accounts.reset_password(session, user(session, "admin"), "nobody", "xxxxxx")
        with pytest.raises(InvalidInput) as short:
            accounts.reset_password(session, user(session, "admin"), "pnr", "x")
        assert list(short.value.errors) == ["password"]
        with pytest.raises(Conflict):
            accounts.change_user(session, user(session, "admin"), "admin", accounts.UserChange(role="staff"))


def test_a_change_to_nothing_records_nothing(database, people):
    with database.session() as session:
        same = accounts.UserChange(agency_code="PNR", role="staff")
        accounts.change_user(session, user(session, "admin"), "pnr", same)
        assert events(session, "user.changed") == 0


def test_a_user_who_stops_working_on_steps_hands_back_what_they_claimed(database, people, sample):
    with database.session() as session:
        _instance, open_steps = start(session)
        hq = user(session, "hq")
        step = next(t for t in open_steps if t.agency_code == "HQ")
        tasks.claim_task(session, step.id, hq)
        step_id = step.id
    with database.session() as session:
        accounts.change_user(session, user(session, "admin"), "hq", accounts.UserChange(role="observer"))
    with database.session(read_only=True) as session:
        task = session.get(Task, step_id)
        assert (task.state, task.assignee_id) == (TaskState.OPEN, None)
        said = session.scalars(select(Event).where(Event.type == "task.unclaimed")).one()
        assert said.actor_name == "admin" and said.payload["from"] == "hq"
        assert user(session, "hq").active  # still signed in: only moved


def test_deactivating_and_reactivating_and_a_new_password_end_sessions(database, people):
    with database.session() as session:
        pnr = user(session, "pnr")
        users.issue_token(session, pnr, 1)
        accounts.change_user(session, user(session, "admin"), "pnr", accounts.UserChange(active=False))
    with database.session(read_only=True) as session:
        live = (
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == pnr.id, ApiToken.revoked_at.is_(None))
        )
        assert session.scalar(live) == 0
    with database.session() as session:
        accounts.change_user(session, user(session, "admin"), "pnr", accounts.UserChange(active=True))
        users.issue_token(session, user(session, "pnr"), 1)
        accounts.reset_password(session, user(session, "admin"), "pnr", "another")
    with database.session(read_only=True) as session:
        assert session.scalar(live) == 0
        assert user(session, "pnr").active and events(session, "user.password_reset") == 1
        changed = [e.payload["changed"] for e in session.scalars(select(Event).where(Event.type == "user.changed"))]
        assert changed == [{"active": [True, False]}, {"active": [False, True]}]
        assert users.authenticate(session, "pnr", "another").username == "pnr"

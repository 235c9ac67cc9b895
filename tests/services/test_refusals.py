"""Services refuse bad input naming the field at fault, and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from approvals.models import Project, User
from approvals.services import instances, projects, users
from approvals.services.errors import Conflict, InvalidInput, NotFound
from tests.factories import make_project, start, user


@pytest.mark.parametrize(
    ("fields", "at_fault"),
    [
        ({"code": "-bad"}, "code"),
        ({"code": ""}, "code"),
        ({"name": "   "}, "name"),
        ({"name": "名" * 301}, "name"),
        ({"funding_level": "national"}, "funding_level"),
        ({"owner_unit": "单" * 201}, "owner_unit"),
        ({"investment": "-1"}, "investment"),
        ({"investment": "NaN"}, "investment"),
        ({"investment": "1e16"}, "investment"),
        ({"investment": "lots"}, "investment"),
    ],
)
def test_a_project_with_a_bad_field_is_refused_and_not_made(database, people, fields, at_fault):
    new = projects.NewProject(**{"code": "P-1", "name": "项目", **fields})
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        projects.create_project(session, new, user(session, "admin"))
    assert list(refused.value.errors) == [at_fault]
    with database.session(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 0


def test_a_taken_project_code_is_a_conflict(database, people):
    with database.session() as session:
        make_project(session, "P-1")
        with pytest.raises(Conflict):
            make_project(session, "P-1")


@pytest.mark.parametrize(
    ("fields", "at_fault"),
    [
        ({"username": "x"}, "username"),
        ({"password": "abc"}, "password"),
        ({"role": "boss"}, "role"),
        ({"agency_code": "NOWHERE"}, "agency"),
    ],
)
def test_a_user_with_a_bad_field_is_refused(database, fields, at_fault):
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        users.create_user(
            session, **{"username": "li", "password": "pw-123456", "agency_code": "DRC", "role": "staff", **fields}
        )
    assert list(refused.value.errors) == [at_fault]
    with database.session(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    ("process_key", "data", "at_fault"),
    [
        ("no_such_process", {}, "process_key"),
        ("sample_review", ["not", "an", "object"], "data"),
        ("sample_review", {"project": {"code": "OTHER"}}, "data"),
        ("sample_review", {"_engine": 1}, "data"),
    ],
)
def test_a_start_with_bad_input_is_refused_and_starts_nothing(database, people, sample, process_key, data, at_fault):
    with database.session() as session:
        make_project(session, "P-1")
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        instances.start_instance(session, "P-1", process_key, data, user(session, "hq"))
    assert list(refused.value.errors) == [at_fault]
    with database.session(read_only=True) as session:
        assert session.get(Project, 1).instances == []


def test_unknown_projects_and_instances_are_not_found(database, people, sample):
    with database.session() as session:
        with pytest.raises(NotFound):
            instances.start_instance(session, "NOPE", "sample_review", {}, user(session, "hq"))
        with pytest.raises(NotFound):
            instances.terminate_instance(session, 999, user(session, "admin"))
        instance, _ = start(session)
        with pytest.raises(Conflict):
            instances.resume_instance(session, instance.id, user(session, "admin"))  # it is running

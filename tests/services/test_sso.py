"""Accounts from an identity provider's claims, on both databases: the agency by map, code, alias or
name; the role by map; updated at each sign-in; refused without an agency or when deactivated."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from approvals.models import Event
from approvals.services import accounts, sso
from approvals.services.errors import Forbidden
from tests.factories import user

RULES = sso.ClaimRules.of({"OIDC_AGENCY_MAP": "城市规划处=PNR", "OIDC_ROLE_MAP": "科长=lead;局长=lead"})


@pytest.mark.parametrize("department", ["城市规划处", "PNR", "发展和改革委员会"])
def test_the_agency_comes_from_the_map_the_code_or_the_name(database, people, department):
    with database.session() as session:
        made = sso.sign_in_with_claims(session, {"sub": "abc", "name": "赵六", "department": department}, RULES)
        assert made.agency_code in ("PNR", "DRC") and made.username == "abc" and made.role == "staff"


def test_the_account_follows_the_claims_and_each_change_is_audited(database, people):
    with database.session() as session:
        first = sso.sign_in_with_claims(session, {"preferred_username": "li.si", "department": "PNR"}, RULES)
        again = sso.sign_in_with_claims(
            session, {"preferred_username": "li.si", "department": "DRC", "title": "科长", "name": "李四"}, RULES
        )
        assert again.id == first.id and (again.agency_code, again.role, again.display_name) == ("DRC", "lead", "李四")
        changed = session.scalars(select(Event).where(Event.type == "user.changed")).one().payload["changed"]
        assert changed["agency"] == ["PNR", "DRC"] and changed["role"] == ["staff", "lead"]


def test_no_agency_no_name_or_a_deactivated_account_is_refused(database, people):
    with database.session() as session:
        for claims in ({"sub": "x1", "department": "外地单位"}, {"sub": "x2"}, {"sub": "", "department": "PNR"}):
            with pytest.raises(Forbidden):
                sso.sign_in_with_claims(session, claims, RULES)
        accounts.change_user(session, user(session, "admin"), "pnr", accounts.UserChange(active=False))
        with pytest.raises(Forbidden):
            sso.sign_in_with_claims(session, {"sub": "pnr", "department": "PNR"}, RULES)

"""Signing in through the city's identity provider (OpenID Connect): the claims it vouches for say
who the person is, their agency and their role; the account here is created or brought up to date
at each sign-in, and a person whose claims name no agency of the directory is refused."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from ..models import Role, User
from ..text import msg
from . import events
from .agencies import lane_agencies, list_agencies
from .errors import Forbidden

NOT_A_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class ClaimRules:
    agency_claim: str
    agency_map: Mapping[str, str]
    role_claim: str
    role_map: Mapping[str, str]
    default_role: str

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> ClaimRules:
        return cls(
            agency_claim=str(settings.get("OIDC_AGENCY_CLAIM") or "department"),
            agency_map=parse_map(settings.get("OIDC_AGENCY_MAP")),
            role_claim=str(settings.get("OIDC_ROLE_CLAIM") or "title"),
            role_map=parse_map(settings.get("OIDC_ROLE_MAP")),
            default_role=str(settings.get("OIDC_DEFAULT_ROLE") or Role.STAFF),
        )


def parse_map(text: object) -> dict[str, str]:
    """``value=CODE`` entries separated by ``;`` or new lines."""
    found = {}
    for entry in re.split(r"[;\n]", str(text or "")):
        value, sep, code = entry.partition("=")
        if sep and value.strip() and code.strip():
            found[value.strip()] = code.strip()
    return found


def agency_of(session: Session, value: str, rules: ClaimRules) -> str | None:
    """The agency a claim value names: through the map, or the directory's code, alias or name."""
    if value in rules.agency_map:
        return rules.agency_map[value]
    known = lane_agencies(session)
    if value in known:
        return known[value]
    for agency in list_agencies(session):
        if value in (agency.name_zh, agency.name_en) or agency.name_zh.endswith(value):
            return agency.code
    return None


def sign_in_with_claims(session: Session, claims: Mapping[str, Any], rules: ClaimRules) -> User:
    """The account for these claims, made or updated (agency, role, name); Forbidden when the claims
    name no agency here, or the account was deactivated by an admin."""
    value = str(claims.get(rules.agency_claim) or "")
    agency = agency_of(session, value, rules) if value else None
    if agency is None:
        raise Forbidden(
            msg("your identity names no agency of this service ({value}); ask an administrator", value=value or "—")
        )
    role = rules.role_map.get(str(claims.get(rules.role_claim) or ""), rules.default_role)
    if role not in tuple(Role):
        role = Role.STAFF
    username = NOT_A_NAME.sub("_", str(claims.get("preferred_username") or claims.get("sub") or ""))[:64]
    if len(username) < 2:
        raise Forbidden(msg("your identity has no user name"))
    name = str(claims.get("name") or username)[:200]
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, password_hash=generate_password_hash(secrets.token_urlsafe(32)))
        user.agency_code, user.role, user.display_name = agency, role, name
        session.add(user)
        session.flush()
        events.record(
            session, "user.created", None, payload={"username": username, "agency": agency, "role": role, "by": "sso"}
        )
        return user
    if not user.active:
        raise Forbidden(msg("this account was deactivated; ask an administrator"))
    changed = {
        key: [old, new]
        for key, old, new in (
            ("agency", user.agency_code, agency),
            ("role", user.role, role),
            ("display_name", user.display_name, name),
        )
        if old != new
    }
    if changed:
        user.agency_code, user.role, user.display_name = agency, role, name
        session.flush()
        events.record(session, "user.changed", None, payload={"username": username, "changed": changed, "by": "sso"})
    return user

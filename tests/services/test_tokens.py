"""Which bearer tokens let a caller in (services/users.user_for_token, read in one query per
request): only a live token of the scope asked for, of an active user."""

from __future__ import annotations

from sqlalchemy import update

from approvals.models import ApiToken, TokenScope, User, utcnow
from approvals.services import users
from tests.factories import user


def _issue(database, username: str, scope: TokenScope = TokenScope.API, days: int = 1) -> str:
    with database.session() as session:
        return users.issue_token(session, user(session, username), days, scope)[0]


def _caller(database, token: str, scope=TokenScope.API) -> str | None:
    with database.session(read_only=True) as session:
        found = users.user_for_token(session, token, scope)
        return found.username if found is not None else None


def test_a_live_token_of_the_scope_asked_for_names_its_user(database, people):
    token = _issue(database, "pnr")
    assert _caller(database, token) == "pnr"
    assert _caller(database, token, (TokenScope.API, TokenScope.MESSAGES)) == "pnr"
    assert _caller(database, "no-such-token") is None


def test_another_scope_an_expired_or_revoked_token_or_an_inactive_user_is_refused(database, people):
    page_session = _issue(database, "pnr", TokenScope.WEB)
    assert _caller(database, page_session) is None  # a page's token is no API token
    assert _caller(database, page_session, TokenScope.WEB) == "pnr"

    expired = _issue(database, "pnr")
    with database.session() as session:
        session.execute(update(ApiToken).where(ApiToken.expires_at > utcnow()).values(expires_at=utcnow()))
    assert _caller(database, expired) is None

    revoked = _issue(database, "hq")
    with database.session() as session:
        users.revoke_token(session, revoked)
    assert _caller(database, revoked) is None

    live = _issue(database, "drc")
    assert _caller(database, live) == "drc"
    with database.session() as session:  # directly, not through accounts (which also revokes the tokens)
        session.execute(update(User).where(User.username == "drc").values(active=False))
    assert _caller(database, live) is None

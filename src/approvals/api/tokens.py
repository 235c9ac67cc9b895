from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from ..db import get_session
from ..services import users
from ..services.errors import NotAuthenticated
from .auth import SECURITY, authenticated, bearer_token
from .schemas import TokenRequest, TokenResponse

blp = Blueprint("tokens", __name__, url_prefix="/api/tokens", description="API tokens")


@blp.post("")
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@blp.alt_response(401, description="wrong username or password")
@blp.alt_response(429, description="too many failed sign-ins for this user name; see Retry-After")
def create_token(body):
    """Sign in: exchange username and password for a bearer token (5 failures in 15 minutes: 429)."""
    session = get_session()
    users.check_attempts(session, body["username"])
    try:
        user = users.authenticate(session, body["username"], body["password"])
    except NotAuthenticated:
        # Recorded in a transaction of its own, since this request's is rolled back with its 401;
        # end that one first (on SQLite it holds the write lock).
        session.rollback()
        with current_app.extensions["approvals_db"].session() as own:
            users.record_failure(own, body["username"])
        raise
    token, expires_at = users.issue_token(session, user, int(current_app.config["TOKEN_DAYS"]))
    return {"token": token, "expires_at": expires_at, "username": user.username,
            "agency": user.agency_code, "role": user.role}


@blp.delete("/current")
@blp.doc(security=SECURITY)
@blp.response(204)
@authenticated
def revoke_current_token():
    """Sign out: revoke the token this request carries."""
    users.revoke_token(get_session(), bearer_token())

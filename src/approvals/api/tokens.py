from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from ..db import get_session
from ..http_edge import check_password
from ..services import accounts, users
from .auth import SECURITY, authenticated, bearer_token, current_user
from .schemas import ServiceTokenRequest, TokenRequest, TokenResponse

blp = Blueprint("tokens", __name__, url_prefix="/api/tokens", description="API tokens")


def _issued(user, token: str, expires_at) -> dict:
    return {
        "token": token,
        "expires_at": expires_at,
        "username": user.username,
        "agency": user.agency_code,
        "role": user.role,
    }


@blp.post("")
@blp.arguments(TokenRequest())
@blp.response(201, TokenResponse)
@blp.alt_response(401, description="wrong username or password")
@blp.alt_response(429, description="too many recent attempts for this name or address; wait Retry-After seconds")
def create_token(body):
    """Sign in: exchange username and password for a bearer token (repeated failures: growing delays, 429)."""
    user = check_password(body["username"], body["password"])
    token, expires_at = users.issue_token(get_session(), user, int(current_app.config["TOKEN_DAYS"]))
    return _issued(user, token, expires_at)


@blp.delete("/current")
@blp.doc(security=SECURITY)
@blp.response(204)
@authenticated
def revoke_current_token():
    """Sign out: revoke the token this request carries."""
    users.revoke_token(get_session(), bearer_token() or "")  # authenticated: there is one


@blp.post("/service")
@blp.doc(security=SECURITY)
@blp.arguments(ServiceTokenRequest())
@blp.response(201, TokenResponse)
@authenticated
def create_service_token(body):
    """A service account's token (admins): scope `messages`, good only for `POST /api/messages`, for
    the user given (an account of the agency whose system sends the messages)."""
    user, token, expires_at = accounts.issue_service_token(
        get_session(), current_user(), body["username"], body["days"]
    )
    return _issued(user, token, expires_at)

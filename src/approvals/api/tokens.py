from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from ..db import get_session
from ..http_edge import check_password
from ..services import users
from .auth import SECURITY, authenticated, bearer_token
from .schemas import TokenRequest, TokenResponse

blp = Blueprint("tokens", __name__, url_prefix="/api/tokens", description="API tokens")


@blp.post("")
@blp.arguments(TokenRequest)
@blp.response(201, TokenResponse)
@blp.alt_response(401, description="wrong username or password")
@blp.alt_response(429, description="too many recent attempts for this name or address; wait Retry-After seconds")
def create_token(body):
    """Sign in: exchange username and password for a bearer token (repeated failures: growing delays, 429)."""
    user = check_password(body["username"], body["password"])
    token, expires_at = users.issue_token(get_session(), user, int(current_app.config["TOKEN_DAYS"]))
    return {
        "token": token,
        "expires_at": expires_at,
        "username": user.username,
        "agency": user.agency_code,
        "role": user.role,
    }


@blp.delete("/current")
@blp.doc(security=SECURITY)
@blp.response(204)
@authenticated
def revoke_current_token():
    """Sign out: revoke the token this request carries."""
    users.revoke_token(get_session(), bearer_token() or "")  # authenticated: there is one

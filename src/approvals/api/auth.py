"""Authentication for the API: bearer tokens."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from ..db import get_session
from ..models import TokenScope, User
from ..services import users
from ..services.errors import NotAuthenticated

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> User:
    """Resolve the caller from the bearer token into ``g.user`` (once per request), or raise 401.

    Blueprints call this before anything reads the request, so an anonymous caller learns nothing
    from validation errors; ``authenticated`` marks each view that needs it."""
    if "user" not in g:
        token = bearer_token()
        if token is None:
            raise NotAuthenticated("send 'Authorization: Bearer <token>'; get a token from POST /api/tokens")
        # A service account's token (scope messages) is good for delivering messages only.
        scopes = (TokenScope.API, TokenScope.MESSAGES) if request.blueprint == "messages" else (TokenScope.API,)
        user = users.user_for_token(get_session(), token, scopes)
        if user is None:
            raise NotAuthenticated("the token is unknown, expired or revoked")
        g.user = user
    return g.user


def authenticated(view):
    """The view needs a signed-in caller (see ``authenticate``)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    return wrapper


def current_user() -> User:
    return g.user

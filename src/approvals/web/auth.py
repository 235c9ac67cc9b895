"""Signing in to the pages: the signed session cookie carries an API token (so signing out revokes
it, as for the API), and every form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from functools import wraps

from flask import g, redirect, request, session, url_for

from ..db import get_session
from ..http_edge import check_password
from ..models import TokenScope, User
from ..services import users
from ..services.errors import NotAuthenticated, TooManyAttempts
from ..text import N_

SESSION_DAYS = 1


def signed_in_user() -> User | None:
    if "web_user" not in g:
        token = session.get("token")
        g.web_user = users.user_for_token(get_session(), token, TokenScope.WEB) if token else None
    return g.web_user


def sign_in(username: str, password: str) -> str | None:
    """Start a session; returns the reason it failed, or None."""
    try:
        user = check_password(username, password)
    except TooManyAttempts as exc:
        return exc.message
    except NotAuthenticated:
        return N_("Wrong user name or password")
    start_session(user)
    return None


def start_session(user: User) -> None:
    """The browser's session for ``user`` (signed in by password or by the identity provider)."""
    token, _ = users.issue_token(get_session(), user, SESSION_DAYS, TokenScope.WEB)
    lang = session.get("lang")
    session.clear()  # nothing from before signing in carries over (session fixation)...
    if lang:
        session["lang"] = lang  # ...but the language chosen on the sign-in page
    session["token"] = token
    session.permanent = False


def sign_out() -> None:
    token = session.pop("token", None)
    if token:
        users.revoke_token(get_session(), token)
    session.clear()


def signed_in(view):
    """The page needs a signed-in user; others go to the sign-in page and come back."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if signed_in_user() is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper

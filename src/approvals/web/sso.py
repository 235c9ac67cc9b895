"""Single sign-on (OpenID Connect, Authlib) beside local passwords: the sign-in page offers the
city's identity provider when ``APPROVALS_OIDC_ISSUER`` is set; its claims make or update the
account (services/sso.py), and a person whose claims map to no agency is refused with a page that
says so."""

from __future__ import annotations

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, redirect, request, session, url_for

from ..db import get_session
from ..http_edge import page_error
from ..services import sso
from ..services.errors import Forbidden
from ..text import msg
from . import auth
from .redirects import local_path
from .views import bp


def init_app(app: Flask) -> None:
    if not app.config.get("OIDC_ISSUER"):
        return
    oauth = OAuth(app)
    oauth.register(
        "city",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=str(app.config["OIDC_ISSUER"]).rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )
    app.extensions["approvals_oauth"] = oauth


def _client():
    oauth = current_app.extensions.get("approvals_oauth")
    return oauth.city if oauth is not None else None


@bp.get("/login/oidc")
def oidc_login():
    client = _client()
    if client is None:
        return page_error(404, msg("single sign-on is not set up here"))
    session["oidc_next"] = local_path(request.args.get("next")) or url_for("web.inbox")
    return client.authorize_redirect(url_for("web.oidc_callback", _external=True))


@bp.get("/login/oidc/callback")
def oidc_callback():
    client = _client()
    if client is None:
        return page_error(404, msg("single sign-on is not set up here"))
    try:
        token = client.authorize_access_token()
    except OAuthError as exc:
        return page_error(
            401, msg("the identity provider did not sign you in: {reason}", reason=exc.description or exc.error)
        )
    claims = dict(token.get("userinfo") or {})
    try:
        user = sso.sign_in_with_claims(get_session(), claims, sso.ClaimRules.of(current_app.config))
    except Forbidden as exc:
        return page_error(403, exc.message)
    target = session.get("oidc_next") or url_for("web.inbox")
    auth.start_session(user)
    return redirect(target)

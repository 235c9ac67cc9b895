"""The web application: server-rendered pages for agency staff, process owners and followers."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from ..services.authz import TEMPLATE_PREDICATES
from ..workdays import LOCAL
from . import i18n
from .auth import signed_in_user
from .i18n import language

csrf = CSRFProtect()


def local_time(moment: datetime | None) -> str:
    """A moment as Shenzhen time, to the minute."""
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if moment else ""


def init_app(app: Flask) -> None:
    from . import admin, operations, sso, static_files  # noqa: F401 - their pages join the blueprint
    from .views import agency_name, bp

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session, not an hour
    # The API authenticates with bearer tokens, which a browser never sends by itself: only the
    # pages (cookie sessions) need CSRF tokens, checked by the blueprint below.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    # Flask's own default is None (not "unset"), so a setdefault would never apply.
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    csrf.init_app(app)
    static_files.init_app(app)
    sso.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(bp)
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.globals.update(TEMPLATE_PREDICATES)  # the services' own rules decide what a page offers
    app.jinja_env.globals["agency_name"] = agency_name

    @app.context_processor
    def _page_context():
        return {"user": signed_in_user(), "lang": language()}

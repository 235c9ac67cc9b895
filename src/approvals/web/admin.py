"""Admin pages: the users (create, change agency, role or name, deactivate, reset a password;
each change audited) and the year's working-day calendar (a month grid where rest and make-up days
are clicked on, or a TOML arrangement pasted in). Rules live in services/accounts.py and
services/calendar_years.py."""

from __future__ import annotations

import json

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from ..db import get_session
from ..http_edge import status_of
from ..models import Event, Role
from ..services import accounts, agencies, calendar_years, users, webhooks
from ..services.authz import can_manage_users, require
from ..services.errors import Conflict, InvalidInput, NotFound
from ..text import msg
from ..workdays import today
from . import auth
from .i18n import language, translate
from .views import _field_errors, bp, me

AUDIT_SHOWN = 50  # the latest changes shown on a user's page


def _year() -> int:
    year = request.args.get("year", today().year, type=int)  # the year in Shenzhen
    if not 2000 <= year <= 2100:
        raise InvalidInput(msg("{year} is not a year between 2000 and 2100", year=year), {"year": ["2000-2100"]})
    return year


def _choices(session):
    zh = language() == "zh"
    return {
        "agencies": [(a.code, a.name_zh if zh else a.name_en) for a in agencies.list_agencies(session)],
        "roles": list(Role),
    }


def _admin_page(session, actor, year: int, code: int = 200, **shown):
    """The admin page: the users, the new-user form and the year's calendar (``shown``: what a
    refused form held and why)."""
    view = calendar_years.year_view(session, year)
    grid = {
        "year": year,
        "source": view["source"],
        "rest_days": [d.isoformat() for d in view["rest_days"]],
        "work_days": [d.isoformat() for d in view["work_days"]],
    }
    return render_template(
        "admin.html",
        users=users.list_users(session, actor),
        year=view,
        grid=json.dumps(grid),
        **{"text": "", "problems": None, "new_user": request.args.get("new") == "1", **shown},
        **_choices(session),
    ), code


@bp.route("/admin", methods=["GET", "POST"])
@auth.signed_in
def admin():
    """The users and the calendar; a POST loads a year's arrangement (TOML, or the grid's)."""
    session, user = get_session(), me()
    require(can_manage_users(user), msg("only admins manage users"))
    year = _year()
    if request.method == "POST":
        text = request.form.get("arrangement", "")
        try:
            loaded = calendar_years.load_year(session, text, user)
        except InvalidInput as exc:
            return _admin_page(session, user, year, 422, text=text, problems=_field_errors(exc))
        flash(translate("Saved.") + f" {loaded.row.year} · " + translate("due dates moved") + f": {len(loaded.moved)}")
        return redirect(url_for("web.admin", year=loaded.row.year), 303)
    return _admin_page(session, user, year)


@bp.get("/admin/users")
@auth.signed_in
def admin_users():
    """Where a refused new user's form was shown: reloading it shows the admin page."""
    return redirect(url_for("web.admin", _anchor="users"))


@bp.post("/admin/users")
@auth.signed_in
def admin_create_user():
    session, actor = get_session(), me()
    form = request.form
    try:
        created = accounts.add_user(
            session,
            actor,
            username=form.get("username", "").strip(),
            password=form.get("password", ""),
            agency_code=form.get("agency", ""),
            role=form.get("role", ""),
            display_name=form.get("display_name", "").strip(),
        )
    except (InvalidInput, Conflict) as exc:
        shown = {"new_user": True, "new_errors": _field_errors(exc), "new_values": form}
        return _admin_page(session, actor, today().year, status_of(exc), **shown)
    flash(translate("Saved.") + f" {created.username}")
    return redirect(url_for("web.admin_user", username=created.username), 303)


@bp.route("/admin/users/<username>", methods=["GET", "POST"])
@auth.signed_in
def admin_user(username: str):
    """One user: details, agency and role; active or not; a new password; what changed, by whom."""
    session, actor = get_session(), me()
    require(can_manage_users(actor), msg("only admins manage users"))
    errors, values, code = None, {}, 200  # type: ignore[var-annotated]
    if request.method == "POST":
        values = request.form
        action = values.get("action")
        try:
            if action == "password":
                accounts.reset_password(session, actor, username, values.get("password", ""))
            else:
                change = accounts.UserChange(
                    agency_code=values.get("agency") or None,
                    role=values.get("role") or None,
                    display_name=values.get("display_name") if action == "change" else None,
                    active={"deactivate": False, "activate": True}.get(action or ""),
                )
                accounts.change_user(session, actor, username, change)
        except (InvalidInput, Conflict) as exc:
            errors, code = _field_errors(exc), status_of(exc)
        else:
            flash(translate("Saved."))
            return redirect(url_for("web.admin_user", username=username), 303)
    account = users.get_user(session, username)
    if account is None:
        raise NotFound(msg("no user {username!r}", username=username))
    changes = [
        e
        for e in session.scalars(
            select(Event).where(Event.type.like("user.%")).order_by(Event.id.desc()).limit(AUDIT_SHOWN * 20)
        )
        if (e.payload or {}).get("username") == account.username
    ][:AUDIT_SHOWN]
    return render_template(
        "admin_user.html", account=account, changes=changes, errors=errors, values=values, **_choices(session)
    ), code


@bp.route("/admin/webhooks", methods=["GET", "POST"])
@auth.signed_in
def admin_webhooks():
    """The webhooks, a form to add one, and each one's latest deliveries with a replay button."""
    session, actor = get_session(), me()
    errors, values, code = None, {}, 200  # type: ignore[var-annotated]
    if request.method == "POST":
        values = request.form
        try:
            if values.get("action") == "delete":
                webhooks.delete_webhook(session, actor, int(values.get("webhook_id") or 0))
            elif values.get("action") == "replay":
                webhooks.replay(session, actor, values.get("delivery_id", ""))
            else:
                webhooks.create_webhook(
                    session,
                    actor,
                    url=values.get("url", "").strip(),
                    event_types=[
                        t.strip() for t in values.get("events", "").replace("，", ",").split(",") if t.strip()
                    ],
                    secret=values.get("secret") or None,
                    agency_code=values.get("agency") or None,
                    hosts=webhooks.allowed_hosts(current_app.config.get("WEBHOOK_HOSTS")),
                )
        except (InvalidInput, NotFound) as exc:
            errors, code = _field_errors(exc), status_of(exc)
        else:
            flash(translate("Saved."))
            return redirect(url_for("web.admin_webhooks"), 303)
    hooks = webhooks.list_webhooks(session, actor)
    return render_template(
        "admin_webhooks.html",
        hooks=hooks,
        deliveries={h.id: webhooks.deliveries(session, actor, h.id)[:20] for h in hooks},
        hosts=sorted(webhooks.allowed_hosts(current_app.config.get("WEBHOOK_HOSTS"))),
        errors=errors,
        values=values,
        **_choices(session),
    ), code

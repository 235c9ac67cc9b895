"""Pages for owners and admins keeping live instances healthy: incidents (retry), modifying an
instance, and moving instances to a new version from the model page. Rules live in services/."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ..db import get_session
from ..services import definitions, incidents, migration, repair
from ..services.authz import can_publish
from ..services.errors import InvalidInput, ModelInvalid
from ..text import msg
from . import auth
from .i18n import translate
from .views import _field_errors, bp, me, model_page_response


@bp.get("/incidents")
@auth.signed_in
def incident_list():
    status = request.args.get("status", "open")
    found = incidents.list_incidents(get_session(), me(), status=status or None)
    return render_template("incidents.html", incidents=found, status=status)


@bp.get("/incidents/<int:incident_id>")
@auth.signed_in
def incident_page(incident_id: int, data_text: str = "", problems: dict | None = None, code: int = 200):
    incident = incidents.get_incident(get_session(), incident_id, me())
    return render_template(
        "incident.html", incident=incident, data_text=data_text, problems=problems, can_repair=can_publish(me())
    ), code


@bp.post("/incidents/<int:incident_id>")  # the page's own address: a refusal shows where it already is
@bp.post("/incidents/<int:incident_id>/retry")
@auth.signed_in
def incident_retry(incident_id: int):
    text = request.form.get("data", "").strip()
    try:
        data = _json_object(text, "data")
        instance = repair.retry(get_session(), incident_id, me(), data)
    except InvalidInput as exc:
        return incident_page(incident_id, text, _field_errors(exc), 422)
    flash(translate("Retried.") + f" {translate(instance.status)}")
    return redirect(url_for("web.incident_page", incident_id=incident_id), 303)


@bp.route("/instances/<int:instance_id>/modify", methods=["GET", "POST"])
@auth.signed_in
def modify_page(instance_id: int):
    session = get_session()
    options = repair.modification_options(session, instance_id, me())
    form, problems = request.form, None
    if request.method == "POST":
        try:
            instance = repair.modify_instance(
                session,
                instance_id,
                me(),
                reason=form.get("reason", ""),
                cancel=form.getlist("cancel"),
                start_before=[e for e in form.getlist("start_before") if e],
                data=_json_object(form.get("data", "").strip(), "data") or {},
            )
        except InvalidInput as exc:
            problems = _field_errors(exc)
        else:
            flash(translate("Modified.") + f" {translate(instance.status)}")
            return redirect(url_for("web.project_page", code=instance.project.code), 303)
    return render_template("modify.html", **options, form=form, problems=problems), (422 if problems else 200)


@bp.post("/models/<key>")  # the model page's own address: its report shows where the page is
@bp.post("/models/<key>/migrations")
@auth.signed_in
def model_migrate(key: str):
    """A dry run (the default) or the migration itself, shown on the model page."""
    session = get_session()
    form = request.form
    dry_run = form.get("action") != "migrate"
    try:
        from_version, to_version = (
            _version(form.get("from_version"), "from_version"),
            _version(form.get("to_version"), "to_version"),
        )
        ids: list[int] | None = [_number(i, "instance_ids", MAX_ID) for i in form.getlist("instance_ids")]
        if not ids and not form.get("picked"):  # no list on the page: every live instance
            ids = None
        report = migration.migrate_instances(
            session,
            key,
            me(),
            from_version=from_version,
            to_version=to_version,
            instance_ids=ids,
            dry_run=dry_run,
            reason=form.get("reason", ""),
            commit=session.commit,
        )
    except InvalidInput as exc:
        return model_page_response(key, migration_problems=_field_errors(exc), code=422)
    return model_page_response(key, report=report, dry_run=dry_run, chosen=(from_version, to_version))


@bp.post("/models/<key>/republish")
@auth.signed_in
def model_republish(key: str):
    """Publish a caller again so that it uses the latest versions of what it calls."""
    try:
        definition, created = definitions.republish(get_session(), key, me())
    except ModelInvalid as exc:
        flash(exc.message)
        return redirect(url_for("web.model_page", key=key), 303)
    if not created:
        flash(translate("Nothing changed: no new version."))
        return redirect(url_for("web.model_page", key=key), 303)
    return redirect(url_for("web.model_page", key=key, published=definition.version, _anchor="migration"), 303)


# The API's bounds (api/schemas.py): a larger number would not fit the database's integers.
MAX_VERSION, MAX_ID = 1_000_000, 2**63 - 1


def _version(raw: str | None, name: str) -> int:
    return _number(raw, name, MAX_VERSION)


def _number(raw: str | None, name: str, largest: int) -> int:
    if not raw or not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= largest:
        raise InvalidInput(
            msg("{name}: {raw!r} is not a number from 1 to {largest}", name=name, raw=raw, largest=largest),
            {name: [msg("1 to {largest}", largest=largest)]},
        )
    return int(raw)


def _json_object(text: str, name: str) -> dict[str, Any] | None:
    """A JSON object typed into a page (None when left empty)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(
            msg("{name} is not JSON: {exc}", name=name, exc=exc), {name: [msg("not JSON: {exc}", exc=exc)]}
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput(msg("{name} must be a JSON object", name=name), {name: [msg("a JSON object, {...}")]})
    return value

"""The pages. Each view reads or changes through services/ and renders a template; no rules here.

No view commits or rolls back: the request's transaction is committed after a 2xx or 3xx answer and
rolled back after any other (db.py). A refused change has written nothing by then (services check
before they write, and the one that writes first, completing with uploads, uses a savepoint), so
the page shown with the error reads the state as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask import session as cookie_session

from ..db import get_session
from ..http_edge import page_error, send_material, send_model_file, status_of
from ..models import NotificationKind, utcnow
from ..services import (
    agencies,
    calendar_years,
    definitions,
    history,
    materials,
    notifications,
    projects,
    saved_filters,
    send_back,
    status,
    substitutes,
    tasks,
    users,
)
from ..services.authz import can_publish, can_work_on, is_lead, require, works_on_steps
from ..services.errors import Conflict, DomainError, Forbidden, InvalidInput, ModelInvalid, NotFound
from ..text import msg
from ..workdays import local_date, today
from . import auth, csrf, exports
from .diagrams import instance_diagrams, step_diagram
from .forms import answer_titles, data_from, fields_of, readable
from .i18n import LANGUAGES, N_, language, translate, translated
from .redirects import local_path

bp = Blueprint("web", __name__, template_folder="templates")
PAGE_SIZE = 20
MAX_PAGE = 1_000_000  # as the API's; a larger number would overflow the database's OFFSET
MAX_EXPORT = 10_000  # projects in one export


def me():
    return auth.signed_in_user()


@bp.before_request
def _check_csrf() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return page_error(status_of(exc), exc.message)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every page that names none (the API docs): the same icon."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


# -- signing in ------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        error = auth.sign_in(request.form.get("username", ""), request.form.get("password", ""))
        if error is None:
            return redirect(local_path(request.args.get("next")) or url_for("web.inbox"))
    sso = "approvals_oauth" in current_app.extensions
    return render_template("login.html", error=error, sso=sso), (401 if error else 200)


@bp.post("/logout")
def logout():
    auth.sign_out()
    return redirect(url_for("web.login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    if code in LANGUAGES:
        cookie_session["lang"] = code
    return redirect(local_path(request.referrer, host=request.host) or url_for("web.inbox"))


@bp.get("/")
def home():
    return redirect(url_for("web.inbox") if me() else url_for("web.login"))


# -- inbox and steps -------------------------------------------------------------------------------


@bp.get("/tasks")
@auth.signed_in
def inbox():
    session, user = get_session(), me()
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    project = request.args.get("project") or None
    process = request.args.get("process") or None
    state = request.args.get("state", "active")
    if state not in tasks.TASK_FILTER_STATES:
        state = "active"
    search = (request.args.get("q") or "").strip()[:100] or None
    sort = request.args.get("sort", "due")
    if sort not in tasks.INBOX_SORTS:
        sort = "due"

    def section(**kwargs):
        return tasks.inbox(
            session,
            user,
            tasks.InboxFilter(
                project=project,
                process=process,
                state=state,
                search=search,
                sort=sort,
                page=page,
                page_size=PAGE_SIZE,
                **kwargs,
            ),
        )

    if works_on_steps(user):
        sections = [(N_("My steps"), *section(assignee_me=True)), (N_("Open at my agency"), *section())]
        if is_lead(user):
            sections.append((N_("Overdue at my agency"), *section(overdue=True)))
    else:
        sections = [(N_("Open steps"), *section())]
    return render_template(
        "inbox.html",
        sections=sections,
        page=page,
        page_size=PAGE_SIZE,
        project=project,
        process=process,
        state=state,
        states=tasks.TASK_FILTER_STATES,
        q=search,
        sort=sort,
        sorts=tasks.INBOX_SORTS,
        processes=[(d.key, d.name) for d, _ in definitions.list_latest(session) if d.kind == "bpmn"],
        now=utcnow(),
        left=_workdays_left(session),
        saved=saved_filters.list_filters(session, user),
        staff=users.colleagues(session, user) + [user] if is_lead(user) else [],
    )


@bp.post("/tasks/filters")
@auth.signed_in
def save_inbox_filter():
    """Keep the inbox's current query under a name; then show it."""
    session, user = get_session(), me()
    try:
        saved = saved_filters.save_filter(session, user, request.form.get("name", ""), request.form)
    except InvalidInput as exc:
        flash(translate(exc.message) + ": " + "; ".join(translate(m) for ms in exc.errors.values() for m in ms))
        return redirect(url_for("web.inbox", **_inbox_query(request.form)), 303)
    flash(translate("Saved.") + f" {saved.name}")
    return redirect(url_for("web.inbox", **_inbox_query(saved.query)), 303)


@bp.post("/tasks/filters/<int:filter_id>/delete")
@auth.signed_in
def delete_inbox_filter(filter_id: int):
    saved_filters.delete_filter(get_session(), me(), filter_id)
    return redirect(url_for("web.inbox"), 303)


def _inbox_query(form) -> dict[str, Any]:
    return {key: form[key] for key in saved_filters.KEYS if form.get(key)}


@bp.post("/tasks/assign")
@auth.signed_in
def bulk_assign():
    """A lead hands several open steps to one colleague at once; each is assigned on its own, and
    the page says which could not be (four eyes, taken meanwhile) and why."""
    session, user = get_session(), me()
    username = request.form.get("username", "")
    done, refused = 0, []
    for raw in request.form.getlist("task_id")[: PAGE_SIZE * 3]:
        try:
            task_id = int(raw)
            with session.begin_nested():
                tasks.assign_task(session, task_id, username, user)
            done += 1
        except ValueError:
            continue
        except (InvalidInput, Conflict, Forbidden, NotFound) as exc:
            refused.append(f"#{raw}: {translate(exc.message)}")
    flash(translate("Assigned: {n}", n=done) + ("; " + "; ".join(refused) if refused else ""))
    return redirect(url_for("web.inbox", **_inbox_query(request.form)), 303)


def _workdays_left(session):
    """Working days left until a step is due (negative: overdue by so many), for the inbox."""
    calendar, on = calendar_years.calendar_of(session), today()
    return lambda task: calendar.workdays_left(on, local_date(task.due_at)) if task.due_at else None


def _task_page(task_id: int, values=None, errors=None, opinion: str = "", code: int = 200, sending_back=None):
    """The step's page; ``sending_back``: what the send back form held (its errors, or the
    confirmation it needs) when it is shown again."""
    session, user = get_session(), me()
    task = tasks.get_task(session, task_id, user)
    schema = tasks.form_of(task)
    can_work = can_work_on(user, task) and task.is_open
    returned = send_back.returned(session, task)
    if values is None:  # a step reopened by a send back starts from its answers of last time
        values = task.submitted_data or (returned.earlier if returned else {})
    shown = materials.shown_with_task(session, task, user)
    forms = definitions.forms_of(task.instance.definition)
    attached: dict[str, list] = {}
    for material in shown:
        if material.task_id == task.id and material.field:
            attached.setdefault(material.field, []).append(material)
    return render_template(
        "task.html",
        task=task,
        data_so_far=readable(
            forms,
            task.input_data or {},
            (translate("yes"), translate("no")),
            definitions.runtime_of(session, task.instance.definition).message_forms,
        ),
        materials_by_id={m.id: m for m in shown},
        attached=attached,
        answers=answer_titles(forms),
        fields=fields_of(schema, values, errors),
        form_errors=errors,
        opinion=opinion,
        materials=shown,
        history=history.history(session, task.instance_id, user),
        figure=step_diagram(session, task),
        targets=send_back.targets(session, task) if can_work else [],
        agency_names=_agency_names(session),
        returned=returned,
        sending_back=sending_back or {},
        now=utcnow(),
        can_work=can_work,
        colleagues=users.colleagues(session, user) if task.assignee_id == user.id else [],
    ), code


@bp.get("/tasks/<int:task_id>")
@auth.signed_in
def task_page(task_id: int):
    return _task_page(task_id)


@bp.post("/tasks/<int:task_id>")
@auth.signed_in
def task_action(task_id: int):
    """The step's forms post to the step's own address (``_action`` says which), so a refused form
    is shown again where the address bar already is, and reloading shows the step; a change that
    went through redirects (post, redirect, get)."""
    actions = {"complete": complete, "send-back": send_back_page, "delegate": delegate}
    action = actions.get(request.form.get("_action", ""))
    if action is None:
        raise InvalidInput(msg("unknown action"), {"_action": [msg("one of: {value}", value=", ".join(actions))]})
    return action(task_id)


@bp.post("/tasks/<int:task_id>/claim")
@auth.signed_in
def claim(task_id: int):
    tasks.claim_task(get_session(), task_id, me())
    flash(translate("Claimed."))
    return redirect(url_for("web.task_page", task_id=task_id), 303)


@bp.post("/tasks/<int:task_id>/release")
@auth.signed_in
def release(task_id: int):
    tasks.unclaim_task(get_session(), task_id, me())
    flash(translate("Released."))
    return redirect(url_for("web.task_page", task_id=task_id), 303)


@bp.post("/tasks/<int:task_id>/delegate")
@auth.signed_in
def delegate(task_id: int):
    try:
        tasks.delegate_task(get_session(), task_id, request.form.get("_username", ""), me())
    except InvalidInput as exc:
        return _task_page(task_id, errors=_field_errors(exc), code=422)
    return redirect(url_for("web.task_page", task_id=task_id), 303)


@bp.post("/tasks/<int:task_id>/recall")
@auth.signed_in
def recall(task_id: int):
    tasks.recall_task(get_session(), task_id, me())
    return redirect(url_for("web.task_page", task_id=task_id), 303)


@bp.post("/tasks/<int:task_id>/complete")
@auth.signed_in
def complete(task_id: int):
    session, user = get_session(), me()
    task = tasks.get_task(session, task_id, user)
    schema = tasks.form_of(task)
    data = data_from(schema, request.form)
    opinion = request.form.get("_opinion", "")  # "_": never the name of a form field (reserved)
    uploads = [
        tasks.Upload(item.name, upload.filename, upload.stream)
        for item in fields_of(schema)
        for upload in request.files.getlist(item.name)
        if upload.filename
    ]
    try:
        tasks.complete_with_uploads(session, task_id, uploads, data, user, opinion=opinion)
    except DomainError as exc:
        if isinstance(exc, Forbidden | NotFound):
            raise
        return _task_page(task_id, values=data, errors=_field_errors(exc), opinion=opinion, code=status_of(exc))
    flash(translate("Completed."))
    return redirect(url_for("web.inbox"), 303)


def _field_errors(exc: DomainError) -> dict[str, list[str]]:
    """Field name -> messages, from the service's error: the form's own fields by name, the page's
    fields (opinion, reason, ...) with a leading "_", and anything else for the whole form."""
    found: dict[str, list[str]] = {}
    for key, value in (exc.errors or {}).items():
        if key == "data" and isinstance(value, dict):
            found.update(value)
        elif isinstance(value, list):
            found[f"_{key}"] = value
    if not found:
        found["_form"] = [exc.message]  # nothing to show by a field: say it at the top
    return found


@bp.post("/tasks/<int:task_id>/send-back")
@auth.signed_in
def send_back_page(task_id: int):
    """Send the file back; when that cancels steps under way at other agencies, the page first
    names them and asks to confirm (``_confirmed``)."""
    session, user = get_session(), me()
    to, reason = request.form.get("_to_bpmn_id", ""), request.form.get("_reason", "")
    form = {"to": to, "reason": reason}
    if not request.form.get("_confirmed"):
        task = tasks.get_task(session, task_id, user)
        target = next((t for t in send_back.targets(session, task) if t.bpmn_id == to), None)
        if target is not None and target.cancels and reason.strip():
            return _task_page(task_id, sending_back={**form, "confirm": target})
    try:
        send_back.send_back(session, task_id, to, reason, user)
    except InvalidInput as exc:
        errors = [m for key in ("reason", "to_bpmn_id") for m in exc.errors.get(key, [])] or [exc.message]
        return _task_page(task_id, sending_back={**form, "errors": errors}, code=422)
    flash(translate("Sent back."))
    return redirect(url_for("web.inbox"), 303)


@bp.post("/tasks/<int:task_id>/materials")
@auth.signed_in
def upload_material(task_id: int):
    """Attach a file to a field of the step as soon as it is chosen (the page's script sends it):
    it is kept whatever happens to the form, and completing the step takes it. Answers JSON for
    the script; without a script the form sends its files with the completion instead."""
    session, user = get_session(), me()
    upload, field = request.files.get("file"), request.form.get("field") or None
    if upload is None or not upload.filename:
        return jsonify(message=translate(msg("choose a file"))), 422
    try:
        material = tasks.attach_material(
            session, task_id, user, name=upload.filename, stream=upload.stream, field=field
        )
    except DomainError as exc:
        return jsonify(message=translate(exc.message)), status_of(exc)
    url = url_for("web.material", material_id=material.id)
    return jsonify(id=material.id, name=material.name, field=material.field, url=url), 201


@bp.get("/materials/<int:material_id>")
@auth.signed_in
def material(material_id: int):
    session = get_session()
    return send_material(session, materials.get_material(session, material_id, me()))


# -- out of office ---------------------------------------------------------------------------------


@bp.route("/away", methods=["GET", "POST"])
@auth.signed_in
def away():
    """Name a colleague who acts for you while you are out of office; see who stands in for whom."""
    session, user = get_session(), me()
    errors, values = None, {}  # type: ignore[var-annotated]
    if request.method == "POST":
        values = request.form
        try:
            substitutes.create_substitution(
                session,
                user,
                substitute=values.get("substitute", ""),
                starts_on=_date(values.get("starts_on"), "starts_on"),
                ends_on=_date(values.get("ends_on"), "ends_on"),
            )
        except InvalidInput as exc:
            errors = exc.errors
        else:
            flash(translate("Saved."))
            return redirect(url_for("web.away"), 303)
    return render_template(
        "away.html",
        rows=substitutes.list_substitutions(session, user),
        today=today(),
        colleagues=users.colleagues(session, user),
        errors=errors,
        values=values,
    ), (422 if errors else 200)


@bp.post("/away/<int:substitution_id>/revoke")
@auth.signed_in
def revoke_away(substitution_id: int):
    substitutes.revoke_substitution(get_session(), substitution_id, me())
    return redirect(url_for("web.away"), 303)


def _date(raw: str | None, name: str) -> date:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise InvalidInput(msg("{name} is not a date", name=name), {name: [msg("a date, YYYY-MM-DD")]}) from None


# -- projects --------------------------------------------------------------------------------------


@bp.get("/projects")
@auth.signed_in
def project_list():
    session = get_session()
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    rows, total = projects.list_projects(session, page=page, page_size=PAGE_SIZE)
    return render_template(
        "projects.html", projects=status.project_summaries(session, rows), total=total, page=page, page_size=PAGE_SIZE
    )


@bp.get("/projects/<code>")
@auth.signed_in
def project_page(code: str):
    session = get_session()
    found = status.project_status(session, code, me())
    now = utcnow()
    return render_template(
        "project.html",
        found=found,
        project=found.project,
        now=now,
        diagrams={s.instance.id: instance_diagrams(session, s, now) for s in found.instances},
        answers={s.instance.id: answer_titles(definitions.forms_of(s.instance.definition)) for s in found.instances},
        agency_names=_agency_names(session),
    )


def _agency_names(session) -> dict[str, str]:
    """Each agency's name in the page's language, by code."""
    zh = language() == "zh"
    return {code: names[0] if zh else names[1] for code, names in agencies.agency_names(session).items()}


def agency_name(code: str) -> str:
    """An agency's name in the page's language (every page names the signed-in user's)."""
    return _agency_names(get_session()).get(code, code)


@bp.get("/projects/export.<any(csv, xlsx):fmt>")
@auth.signed_in
def project_list_export(fmt: str):
    """Every project where it stands, as CSV or Excel."""
    session = get_session()
    rows, _ = projects.list_projects(session, page=1, page_size=MAX_EXPORT)
    header = [translate(w) for w in (N_("Project"), N_("Name"), N_("Stage"), N_("Held by"), N_("Open steps"))]
    header += [translate(w) for w in (N_("Overdue steps"), N_("Next deadline"), N_("Owner unit"), N_("Created"))]
    return exports.table(
        "projects",
        fmt,
        header,
        (
            [p["code"], p["name"], "、".join(p["stage"]), "、".join(p["agencies"]), p["open_tasks"]]
            + [p["overdue_tasks"], p["next_due_at"], p["owner_unit"], p["created_at"]]
            for p in status.project_summaries(session, rows)
        ),
    )


@bp.get("/projects/<code>/export.<any(csv, xlsx):fmt>")
@auth.signed_in
def project_export(code: str, fmt: str):
    """A project's steps, open and finished, with their agencies, dates, outcomes and counted
    working days, as CSV or Excel."""
    session = get_session()
    found = status.project_status(session, code, me())
    names = _agency_names(session)
    header = [translate(w) for w in (N_("Stage"), N_("Step"), N_("Package"), N_("Agency"), N_("State"))]
    header += [translate(w) for w in (N_("Created"), N_("Due"), N_("Completed"), N_("Result"), N_("Working days"))]
    rows: list[list[Any]] = []
    for s in found.instances:
        titles = answer_titles(definitions.forms_of(s.instance.definition))
        for t in [*s.open_tasks, *s.completed_tasks]:
            package = (t.input_data or {}).get("package")
            rows.append(
                [
                    t.stage,
                    t.name,
                    package.get("name", "") if isinstance(package, dict) else "",
                    names.get(t.agency_code),
                ]
                + [translate(t.state), t.created_at, t.due_at, t.completed_at]
                + [titles.get(t.outcome or "") or translate(t.outcome), t.counted_workdays]
            )
    return exports.table(found.project.code, fmt, header, rows)


# -- process models --------------------------------------------------------------------------------


@bp.get("/models")
@auth.signed_in
def model_list():
    return render_template("models.html", models=definitions.list_latest(get_session()), can_publish=can_publish(me()))


@bp.get("/models/<key>")
@auth.signed_in
def model_page(key: str):
    return model_page_response(key)


DESIGNER_WORDS = (
    N_("Name"),
    N_("Title"),
    N_("Type"),
    N_("Required"),
    N_("Only when"),
    N_("equals"),
    N_("Choices (value=标题, one a line)"),
    N_("Allowed files"),
    N_("Up"),
    N_("Down"),
    N_("Remove"),
    N_("text"),
    N_("long text"),
    N_("number"),
    N_("whole number"),
    N_("date"),
    N_("choice"),
    N_("yes/no"),
    N_("files"),
    N_("other (edit the JSON)"),
    N_("always"),
)
PANEL_WORDS = (
    N_("Approvals"),
    N_("Problems"),
    N_("Agency"),
    N_("(routed by expression)"),
    N_("Routing expression (reads project)"),
    N_("Form"),
    N_("(no form)"),
    N_("Time limit"),
    N_("Clock stopped (not counted against the statutory limit)"),
    N_("Four eyes: earlier steps whose completer may not do this one"),
    N_("Condition (a Python expression)"),
    N_("Default flow (taken when no condition holds)"),
    N_("Called process"),
    N_("(none)"),
    N_("New form…"),
    N_("Name of the new form (e.g. site_visit)"),
    N_("A timer may count working days: workdays_after(5) is the end of the 5th working day from now."),
    N_("a number of days and WD (working days) or CD (calendar days), e.g. 20WD"),
    # bpmn-js's own words most seen by owners (its panel, palette and context pad)
    N_("General"),
    N_("Name"),
    N_("ID"),
    N_("Documentation"),
    N_("Element documentation"),
    N_("Process documentation"),
    N_("Timer"),
    N_("Type"),
    N_("Value"),
    N_("Date"),
    N_("Duration"),
    N_("Cycle"),
    N_("Multi-instance"),
    N_("Loop cardinality"),
    N_("Completion condition"),
    N_("Process"),
    N_("<none>"),
    N_("Create task"),
    N_("Create gateway"),
    N_("Create start event"),
    N_("Create end event"),
    N_("Create intermediate/boundary event"),
    N_("Create pool/participant"),
    N_("Activate hand tool"),
    N_("Activate lasso tool"),
    N_("Activate create/remove space tool"),
    N_("Activate global connect tool"),
    N_("Append task"),
    N_("Append end event"),
    N_("Append gateway"),
    N_("Connect to other element"),
    N_("Delete"),
    N_("Change element"),
)


def _panel_data(session, definition) -> dict:
    """What the properties panel offers: the agency directory, the model's forms, the published
    processes a call activity may call, and its words in the page's language."""
    zh = language() == "zh"
    return {
        "words": {word: translate(word) for word in PANEL_WORDS},
        "agencies": [{"code": a.code, "name": a.name_zh if zh else a.name_en} for a in agencies.list_agencies(session)],
        "forms": sorted(definition.forms),
        "processes": [
            {"key": d.key, "name": d.name}
            for d, _count in definitions.list_latest(session)
            if d.kind == "bpmn" and d.key != definition.key
        ],
        "problems": {},
        "newFormUrl": url_for("web.model_form_new", key=definition.key),
    }


def model_page_response(key: str, code: int = 200, **extra):
    """The model page: the modeler, versions and forms, what the newest version changed, and the
    live instances per version with the migration form (``extra``: a migration's report)."""
    session = get_session()
    versions = definitions.versions_of(session, key)
    return render_template(
        "model.html",
        key=key,
        versions=versions,
        latest=versions[0],
        can_publish=can_publish(me()),
        diff=definitions.latest_diff(versions),
        live=definitions.live_instances_by_version(session, key),
        published=request.args.get("published", type=int),
        tests_text=json.dumps(versions[0].tests or [], ensure_ascii=False, indent=2),
        decisions=definitions.decisions_used(session, versions[0]),
        callers=definitions.callers_of(session, versions[0]),
        panel=_panel_data(session, versions[0]) if can_publish(me()) else None,
        **extra,
    ), code


@bp.post("/models/check")
@auth.signed_in
def model_check():
    return jsonify(problems=translated(definitions.check_model(get_session(), request.get_data(), me())))


def _modeler_answer(work: Callable[[bytes, str | None, dict[str, Any]], Any], bad_body: int = 422) -> Any:
    """The modeler's JSON endpoints: for an owner, ``work`` on the draft posted as ``{xml, tests?,
    note?}`` (tests: the JSON text of the test cases); a refused model or request answers with
    the problems for the page to draw (``bad_body``: the status for a body that is not a draft)."""
    require(can_publish(me()), msg("only process owners and admins publish process models"))  # before reading the body
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        return jsonify(message="send {xml, tests?, note?}", problems=[]), bad_body
    tests = body.get("tests")
    try:
        return work(body["xml"].encode(), tests if isinstance(tests, str) else None, body)
    except ModelInvalid as exc:
        return jsonify(message=translate(exc.message), problems=translated(exc.errors["bpmn"])), 422
    except InvalidInput as exc:
        return jsonify(message=translate(exc.message), problems=[]), 422


@bp.post("/models/preview")
@auth.signed_in
def model_preview():
    """What publishing the modeler's draft would change (nothing is stored), with its tests run."""
    return _modeler_answer(
        lambda xml, tests, _: jsonify(translated(definitions.preview(get_session(), xml, {}, me(), tests=tests)))
    )


@bp.post("/models/tests")
@auth.signed_in
def model_tests():
    """Run the draft's test cases in a throw-away engine (nothing is stored)."""
    return _modeler_answer(
        lambda xml, tests, _: jsonify(results=translated(definitions.run_tests(get_session(), xml, {}, me(), tests)))
    )


@bp.post("/models/publish")
@auth.signed_in
def model_publish():
    """Publish the modeler's draft (the forms stay those of the latest version) with its change
    note: the page asks for it, so it is required here."""

    def publish(xml: bytes, tests: str | None, body: dict[str, Any]) -> Any:
        note = body.get("note")
        if not isinstance(note, str) or not note.strip() or len(note) > 4000:
            return jsonify(message=translate("Say what changed and why."), problems=[], field="note"), 422
        definition, created = definitions.publish(get_session(), xml, {}, me(), note=note, tests=tests)
        return jsonify(key=definition.key, version=definition.version, created=created)

    return _modeler_answer(publish, bad_body=400)


@bp.post("/models/upload")
@auth.signed_in
def model_upload():
    upload = request.files.get("bpmn")
    if upload is None or not upload.filename:
        abort(400)
    session = get_session()
    try:
        definition, _ = definitions.publish(session, upload.read(), {}, me(), filename=upload.filename)
    except ModelInvalid as exc:
        return render_template(
            "models.html", models=definitions.list_latest(session), can_publish=True, upload_problems=exc.errors["bpmn"]
        ), 422
    return redirect(url_for("web.model_page", key=definition.key), 303)


@bp.route("/models/<key>/forms/<name>", methods=["GET", "POST"])
@auth.signed_in
def model_form(key: str, name: str):
    """A form of the model: its designer and JSON Schema for owners (saving publishes a new
    version), the schema and a preview for everyone else."""
    session = get_session()
    latest = definitions.versions_of(session, key)[0]
    if name not in latest.forms:
        raise NotFound(msg("{key} has no form {name}", key=key, name=name))
    text, problems = json.dumps(latest.forms[name], ensure_ascii=False, indent=2), []
    if request.method == "POST":
        text = request.form.get("schema", "")
        try:
            definition, _ = definitions.publish(
                session, latest.bpmn_xml.encode(), {name: text.encode()}, me(), note=request.form.get("note", "")
            )
        except ModelInvalid as exc:
            problems = exc.errors["bpmn"]
        else:
            flash(translate("Saved.") + f" {key} v{definition.version}")
            return redirect(url_for("web.model_form", key=key, name=name), 303)
    return render_template(
        "model_form.html",
        key=key,
        name=name,
        text=text,
        problems=problems,
        fields=fields_of(latest.forms[name]),
        designer_words={word: translate(word) for word in DESIGNER_WORDS},
    ), (422 if problems else 200)


@bp.post("/models/<key>/forms/<name>/preview")
@auth.signed_in
def model_form_preview(key: str, name: str):
    """The form as staff will see it, drawn from the schema posted (the designer's live preview)."""
    text = request.get_data(as_text=True)
    problems = definitions.form_problems(name, text)
    if problems:
        return jsonify(problems=translated(problems)), 422
    return jsonify(html=render_template("_form_preview.html", fields=fields_of(json.loads(text))))


@bp.post("/models/<key>/forms")
@auth.signed_in
def model_form_new(key: str):
    """A new, empty form for the model (owners): then its designer, or (from the properties
    panel, JSON ``{name}``) its file name."""
    body = request.get_json(silent=True)
    raw = body.get("name") if isinstance(body, dict) else request.form.get("name")
    name = str(raw or "").strip()
    if name and not name.endswith(".json"):
        name += ".schema.json"
    try:
        definitions.add_form(get_session(), key, name, me())
    except InvalidInput as exc:
        if body is None:
            raise
        return jsonify(message=exc.message), 422
    if body is not None:
        return jsonify(name=name), 201
    return redirect(url_for("web.model_form", key=key, name=name), 303)


@bp.get("/models/<key>/versions/<int:version>/bpmn")
@auth.signed_in
def model_xml(key: str, version: int):
    return send_model_file(definitions.get_version(get_session(), key, version))


# -- my settings -----------------------------------------------------------------------------------


@bp.route("/me", methods=["GET", "POST"])
@auth.signed_in
def my_settings():
    """My e-mail address and the notices I want."""
    session, user = get_session(), me()
    errors = None
    if request.method == "POST":
        try:
            notifications.set_preferences(
                session, user, request.form.get("email", "").strip(), request.form.getlist("kinds")
            )
        except InvalidInput as exc:
            errors = _field_errors(exc)
        else:
            flash(translate("Saved."))
            return redirect(url_for("web.my_settings"), 303)
    chosen = set(user.notify) if user.notify is not None else set(NotificationKind)
    return render_template(
        "me.html",
        kinds=list(NotificationKind),
        chosen=chosen,
        errors=errors,
        email=request.form.get("email", user.email),
    ), (422 if errors else 200)

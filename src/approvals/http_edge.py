"""What the API and the pages share at the HTTP edge: the status each domain error answers with,
the password check of signing in, and downloads of stored files. Neither ``api/`` nor ``web/``
imports the other; both import this."""

from __future__ import annotations

from flask import Response, current_app, request, send_file
from sqlalchemy import text
from sqlalchemy.orm import Session

from .db import get_session, is_postgres
from .models import Material, ProcessDefinition, User
from .services import errors as domain
from .services import materials, users

# One map from domain errors to HTTP status, for the API's JSON errors and the pages' error pages.
STATUS: dict[type[domain.DomainError], int] = {
    domain.NotAuthenticated: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.PayloadTooLarge: 413,
    domain.UnsupportedType: 415,
    domain.InvalidInput: 422,
    domain.ModelInvalid: 422,
    domain.TooManyAttempts: 429,
}


def wants_page() -> bool:
    """Whether the request is a person's browser on a page (not the API): errors then answer as a
    page of the site, in its language, rather than JSON."""
    return not request.path.startswith("/api/") and request.accept_mimetypes.accept_html


def page_error(code: int, message: str) -> tuple[str, int]:
    """The error as a page of the site, in its language, with a way back (the page the person came
    from, when it is one of ours)."""
    from flask import render_template

    from .web.redirects import local_path

    back = local_path(request.referrer, host=request.host)
    if back == request.full_path.rstrip("?"):
        back = None  # a failed POST's referrer is the page with the form: still a way back
    return render_template("error.html", code=code, message=message, back=back), code


def status_of(exc: domain.DomainError) -> int:
    return next(code for cls, code in STATUS.items() if isinstance(exc, cls))


def check_password(username: str, password: str) -> User:
    """The user these credentials name, loaded in the request's session (raises NotAuthenticated,
    or TooManyAttempts while the throttles of services/users.py say wait).

    The attempt is recorded and committed in a transaction of its own before the password is
    checked, so concurrent attempts count each other; the hash itself runs in a read-only
    transaction, never while holding SQLite's write lock."""
    database = current_app.extensions["approvals_db"]
    with database.session() as own:
        if is_postgres(own):  # attempts at one name count one after the other
            own.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": username})
        attempt = users.begin_attempt(own, username, request.remote_addr or "")
    with database.session(read_only=True) as reading:
        user_id = users.authenticate(reading, username, password).id  # NotAuthenticated: the attempt stays
    with database.session() as own:
        users.end_attempt(own, attempt)
    user = get_session().get(User, user_id)
    assert user is not None  # noqa: S101 - it signed in a moment ago
    return user


def _inert(response: Response) -> Response:
    """Headers that keep an uploaded file from ever running as a page of our origin: the browser
    must not guess another type, and the sandbox gives the file no origin, scripts or forms."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


def send_model_file(definition: ProcessDefinition) -> Response:
    """A published model's XML, as an attachment in plain text: XML served as XML would let a
    browser run XHTML or SVG script an owner slipped into ``extensionElements``."""
    extension = "dmn" if definition.kind == "dmn" else "bpmn"
    response = Response(definition.bpmn_xml, mimetype="text/plain")
    response.headers.set(
        "Content-Disposition", "attachment", filename=f"{definition.key}-v{definition.version}.{extension}"
    )
    return _inert(response)


def send_material(session: Session, material: Material) -> Response:
    """A material's bytes as a download: an attachment, never rendered in our origin."""
    response = send_file(
        materials.store_of(session).path_of(material.sha256),
        mimetype=material.content_type,
        as_attachment=True,
        download_name=materials.download_name(material),
        etag=material.sha256,
        max_age=0,
    )
    return _inert(response)

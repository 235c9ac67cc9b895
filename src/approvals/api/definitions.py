from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_smorest import Blueprint

from ..db import get_session
from ..http_edge import send_model_file
from ..services import definitions, migration
from ..services.errors import InvalidInput
from ..text import storable
from .auth import SECURITY, authenticated, current_user
from .schemas import (
    DefinitionSchema,
    DiffQuery,
    DiffSchema,
    MigrationReport,
    MigrationRequest,
    PreviewSchema,
    PublishResponse,
    TestResultSchema,
    VersionSchema,
)

blp = Blueprint(
    "process_definitions",
    __name__,
    url_prefix="/api/process-definitions",
    description="Published process models (immutable versions)",
)


def _definition_doc(definition, versions: int) -> dict:
    return {
        "key": definition.key,
        "version": definition.version,
        "name": definition.name,
        "versions": versions,
        "published_at": definition.published_at,
        "checksum": definition.checksum,
        "published_by": definition.published_by.username if definition.published_by else None,
    }


@blp.get("")
@blp.doc(security=SECURITY)
@blp.response(200, DefinitionSchema(many=True))
@authenticated
def list_definitions():
    """Each process key with its latest version."""
    return [_definition_doc(d, n) for d, n in definitions.list_latest(get_session())]


_UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["bpmn"],
                "properties": {
                    "bpmn": {"type": "string", "format": "binary", "description": "the .bpmn (or .dmn) file"},
                    "forms": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "form JSON Schema files, named as the BPMN refers to them",
                    },
                    "note": {
                        "type": "string",
                        "maxLength": 4000,
                        "description": "what changed and why, kept with the version (publish only)",
                    },
                    "tests": {
                        "type": "string",
                        "description": "the model's test cases, a JSON list (a file or a text field); without it, "
                        "the latest version's",
                    },
                },
            }
        }
    },
}


def _upload() -> tuple[bytes, dict[str, bytes], str]:
    """The uploaded model, its forms by file name, and the file's name."""
    upload = request.files.get("bpmn")
    if upload is None:
        raise InvalidInput("a BPMN file is required", {"bpmn": ["send the model as multipart field 'bpmn'"]})
    forms = {}
    for form in request.files.getlist("forms"):
        name = (form.filename or "").rsplit("/", 1)[-1]
        if not name:
            raise InvalidInput("every form file needs a file name", {"forms": ["a file without a name"]})
        forms[name] = form.read()
    return upload.read(), forms, upload.filename or "model.bpmn"


def _tests() -> str | bytes | None:
    """The test cases sent (a file or a text field), or None: then the latest version's apply."""
    upload = request.files.get("tests")
    if upload is not None:
        return upload.read()
    return request.form.get("tests")


def _note() -> str:
    note = request.form.get("note", "")
    if len(note) > 4000 or not storable(note):
        raise InvalidInput("the change note is too long or holds NUL characters", {"note": ["at most 4000 characters"]})
    return note


@blp.post("")
@blp.doc(security=SECURITY, requestBody=_UPLOAD)
@blp.response(201, PublishResponse, description="published as a new version")
@blp.alt_response(200, schema=PublishResponse, description="the same as the latest version; nothing stored")
@blp.alt_response(422, description="the model was refused; `errors.bpmn` lists elements and messages")
@authenticated
def publish():
    """Publish a BPMN file (multipart `bpmn`) with its form schemas (multipart `forms`, repeatable)
    and a change note (`note`).

    The linter runs first; on any problem nothing is stored. Forms the model names but the upload
    lacks are taken from the key's latest version, and so are the test cases when `tests` is not
    sent. The test cases must pass (else 422 naming each failing case and step). Nothing is stored
    when the latest version already holds the same model, forms, tests and diagram (however the
    XML is written)."""
    bpmn, forms, filename = _upload()
    definition, created = definitions.publish(
        get_session(), bpmn, forms, current_user(), filename=filename, note=_note(), tests=_tests()
    )
    body = {"key": definition.key, "version": definition.version, "name": definition.name, "created": created}
    return body, (201 if created else 200)


@blp.post("/preview")
@blp.doc(security=SECURITY, requestBody=_UPLOAD)
@blp.response(200, PreviewSchema)
@blp.alt_response(422, description="publishing would refuse the model; `errors.bpmn` lists elements and messages")
@authenticated
def preview():
    """What publishing this upload would do, storing nothing (owners and admins): whether anything
    changed, and the elements and forms added, removed and changed against the latest version."""
    bpmn, forms, filename = _upload()
    return definitions.preview(get_session(), bpmn, forms, current_user(), filename=filename, tests=_tests())


@blp.post("/tests")
@blp.doc(security=SECURITY, requestBody=_UPLOAD)
@blp.response(200, TestResultSchema(many=True))
@blp.alt_response(422, description="the model or the test cases are refused; the errors say where")
@authenticated
def run_tests():
    """Run a draft model's test cases (`tests`, else the latest version's) in a throw-away engine
    (owners and admins): nothing is stored, no instance or history is touched. Each case says
    whether it passed, what failed at which step, and the path it took."""
    bpmn, forms, _filename = _upload()
    return definitions.run_tests(get_session(), bpmn, forms, current_user(), _tests())


@blp.get("/<string:key>/versions/<int:version>/tests")
@blp.doc(security=SECURITY)
@blp.response(200, description="the version's test cases, as published (a JSON list)")
@authenticated
def version_tests(key: str, version: int):
    """The test cases published with a version."""
    return jsonify(definitions.get_version(get_session(), key, version).tests or [])


@blp.get("/<string:key>/versions")
@blp.doc(security=SECURITY)
@blp.response(200, VersionSchema(many=True))
@authenticated
def versions(key: str):
    """Every published version of a key, newest first, with who published it, when, and the change note."""
    return definitions.versions_of(get_session(), key)


@blp.get("/<string:key>/versions/<int:version>/bpmn")
@blp.doc(
    security=SECURITY,
    responses={
        "200": {
            "description": "the BPMN (or DMN) XML as published, as a plain-text attachment (never rendered)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
@authenticated
def bpmn_xml(key: str, version: int):
    """The BPMN XML of one version."""
    return send_model_file(definitions.get_version(get_session(), key, version))


@blp.get("/<string:key>/versions/<int:version>/diff")
@blp.doc(security=SECURITY)
@blp.arguments(DiffQuery(), location="query")
@blp.response(200, DiffSchema)
@authenticated
def diff(query: dict[str, Any], key: str, version: int) -> Any:
    """What a version added, removed and changed against another (`against`, default the one before):
    the elements of the model's own process and of the called processes each version froze
    (`process`), with what changed as owners call it (name, lane, form, time_limit, conditions…)."""
    against = query.get("against", version - 1)
    return definitions.diff_versions(get_session(), key, version, against)


@blp.post("/<string:key>/migrations")
@blp.doc(security=SECURITY)
@blp.arguments(MigrationRequest())
@blp.response(200, MigrationReport)
@blp.alt_response(404, description="the key or one of the versions is not published")
@authenticated
def migrate(body: dict[str, Any], key: str) -> Any:
    """Move running instances of `from_version` to `to_version` (owners and admins). Each instance
    moves in its own transaction with an `instance.migrated` event, or is listed under `blocked` with
    reasons naming the element in the way (an open step the new version removes, changes the type or
    the lane of); its open steps, claims, materials, due dates and history carry over. `dry_run`
    reports the same without moving anything."""
    session = get_session()
    return migration.migrate_instances(
        session,
        key,
        current_user(),
        from_version=body["from_version"],
        to_version=body["to_version"],
        instance_ids=body["instance_ids"],
        dry_run=body["dry_run"],
        reason=body["reason"],
        commit=session.commit,
    )

"""Materials (材料): files attached to steps, and documents a step issues (批复, permits).

A material belongs to the step it was uploaded to and is visible to every later step of the
instance. Who may read an instance's materials: the agencies that hold or held a step in it, the
coordinating agency, and the read-all roles. Uploading is for whoever may work on the open step.

A form property marked ``"x-material": {"types": [...]}`` (an array of material ids) is filled by
the service from the step's materials at completion, so a required one is refused with a field
error until a matching file is attached.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, and_, event, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, SessionTransaction, joinedload

from ..models import Material, ProcessInstance, Task, User, utcnow
from ..text import msg, plain_text, without_controls
from . import events
from .authz import can_read_all_materials, require
from .definitions import form_schema
from .errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, UnsupportedType
from .limits import limits_of
from .material_store import MaterialStore, TooLarge
from .material_types import SNIFF_BYTES, RefusedFile, accepts, classify, material_fields
from .projects import get_project

MAX_NAME = 255
MAX_DOCUMENT_NUMBER = 128


def store_of(session: Session) -> MaterialStore:
    return MaterialStore(limits_of(session).data_dir)


def can_read_materials(session: Session, user: User, instance_id: int) -> bool:
    if can_read_all_materials(user):
        return True
    known: set[tuple[str, int]] = session.info.setdefault(_TAKING_PART, set())
    if (user.agency_code, instance_id) in known:
        return True
    held = session.scalar(select(Task.id).where(_agency_takes_part(user, instance_id)).limit(1))
    if held is not None:
        known.add((user.agency_code, instance_id))
    return held is not None


# An agency that holds or held a step of an instance always will (rows are never deleted), so a
# yes is remembered for the rest of the transaction: a step's page asks for its files and for its
# history. Forgotten when any transaction or savepoint ends, as one rolled back may take a step away.
_TAKING_PART = "approvals_taking_part"  # in session.info: {(agency code, instance id)}


@event.listens_for(Session, "after_transaction_end")
def _forget_taking_part(session: Session, _transaction: SessionTransaction) -> None:
    session.info.pop(_TAKING_PART, None)


def _agency_takes_part(user: User, instance_id: int | InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """The user's agency holds or held a step of the instance (``instance_id``: its id, or a column
    naming it): asked through the (instance, agency) index."""
    return and_(Task.instance_id == instance_id, Task.agency_code == user.agency_code)


def upload(
    session: Session,
    task: Task,
    actor: User,
    *,
    name: str,
    stream: IO[bytes],
    field: str | None = None,
    document_number: str | None = None,
) -> Material:
    """Store a file for an open step the caller may work on (checked by the caller, under the lock)."""
    name = Path((name or "").replace("\\", "/")).name.strip()
    if not name or len(name) > MAX_NAME or not plain_text(name):
        raise InvalidInput(
            msg("the file needs a plain name"),
            {
                "file": [
                    msg(
                        "a file name of 1-{MAX_NAME} characters, without control or direction-changing characters",
                        MAX_NAME=MAX_NAME,
                    )
                ]
            },
            msg("files"),
        )
    document_number = (document_number or "").strip() or None
    if document_number is not None and (len(document_number) > MAX_DOCUMENT_NUMBER or not plain_text(document_number)):
        raise InvalidInput(
            msg("the document number is too long"),
            {
                "document_number": [
                    msg("at most {MAX_DOCUMENT_NUMBER} characters", MAX_DOCUMENT_NUMBER=MAX_DOCUMENT_NUMBER)
                ]
            },
            msg("form"),
        )
    wanted = None
    if field is not None:
        fields = material_fields(form_schema(task.instance.definition, task.form))
        if field not in fields:
            raise InvalidInput(
                msg("step “{name}” has no material field {field!r}", name=task.name, field=field),
                {"field": [msg("one of: {value}", value=", ".join(sorted(fields)) or "none")]},
                msg("form"),
            )
        wanted = fields[field].get("types")

    limits = limits_of(session)
    # Withdrawn files count too: they stay stored (the record keeps them), so they take room.
    used = session.scalar(select(func.coalesce(func.sum(Material.size), 0)).where(Material.task_id == task.id)) or 0
    room = min(limits.max_material_bytes, limits.max_task_material_bytes - used)
    store = store_of(session)
    try:
        received = store.receive(stream, max(room, 0), SNIFF_BYTES)
    except TooLarge:
        if room < limits.max_material_bytes:
            raise PayloadTooLarge(
                msg(
                    "{name}: the step's materials would exceed {max_task_material_bytes} bytes",
                    name=name,
                    max_task_material_bytes=limits.max_task_material_bytes,
                )
            ) from None
        raise PayloadTooLarge(
            msg(
                "{name}: a file may have at most {max_material_bytes} bytes",
                name=name,
                max_material_bytes=limits.max_material_bytes,
            )
        ) from None
    try:
        if received.size == 0:
            raise InvalidInput(msg("{name} is empty", name=name), {"file": [msg("the file is empty")]}, msg("files"))
        try:
            kind = classify(name, received.head)
        except RefusedFile as exc:
            raise UnsupportedType(str(exc), {"file": [str(exc)]}) from None
        if not accepts(wanted, kind):
            message = f"{name}: field {field!r} takes {', '.join(wanted or ())}, not {kind.code}"
            raise UnsupportedType(message, {"file": [message]})
        store.keep(received)
    finally:
        store.discard(received)

    material = Material(
        instance_id=task.instance_id,
        task=task,  # held, so the answer naming the step does not read it again
        field=field,
        name=name,
        kind=kind.code,
        content_type=kind.content_type,
        size=received.size,
        sha256=received.sha256,
        document_number=document_number,
        uploaded_by_id=actor.id,
        uploaded_at=utcnow(),
    )
    session.add(material)
    session.flush()
    events.record(
        session,
        "material.uploaded",
        actor,
        instance=task.instance,
        task=task,
        payload={
            "material": material.id,
            "name": name,
            "size": received.size,
            "sha256": received.sha256,
            "kind": kind.code,
            "field": field,
            "document_number": document_number,
        },
    )
    return material


# A blob younger than this may belong to an upload whose row is not committed yet: left alone.
GARBAGE_GRACE = timedelta(hours=1)


def collect_garbage(session: Session, now: datetime | None = None) -> int:
    """Delete stored files no material row refers to (a refused or rolled-back submission, an
    interrupted upload), once they are older than the grace period; returns how many."""
    cutoff = ((now or utcnow()) - GARBAGE_GRACE).timestamp()
    stale = [(name, path) for name, path, mtime in store_of(session).blobs() if mtime < cutoff]
    if not stale:
        return 0
    kept = set(session.scalars(select(Material.sha256).where(Material.sha256.in_([name for name, _ in stale]))))
    removed = 0
    for name, path in stale:
        if name not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def download_name(material: Material) -> str:
    """The name a download is offered under: names stored before control characters were refused
    lose them here (a CR/LF would break the response header)."""
    return without_controls(material.name) or f"material-{material.id}"


def withdraw(session: Session, material: Material, actor: User) -> None:
    """Take back a file attached by mistake, while its step is still open; the record stays."""
    if material.withdrawn_at is not None:
        raise Conflict(msg("material {material_id} is already withdrawn", material_id=material.id))
    if not material.task.is_open:
        raise Conflict(
            msg("step “{name}” is {state}; its materials are final", name=material.task.name, state=material.task.state)
        )
    material.withdrawn_at = utcnow()
    events.record(
        session,
        "material.withdrawn",
        actor,
        instance=material.task.instance,
        task=material.task,
        payload={"material": material.id, "name": material.name},
    )
    session.flush()


def get_material(session: Session, material_id: int, actor: User) -> Material:
    material = session.scalar(
        select(Material)
        .where(Material.id == material_id)
        .options(joinedload(Material.task), joinedload(Material.uploaded_by))
    )
    if material is None:
        raise NotFound(msg("material {material_id} not found", material_id=material_id))
    require(
        can_read_materials(session, actor, material.instance_id),
        msg("your agency has no step in the process of material {material_id}", material_id=material_id),
    )
    return material


def instance_materials(
    session: Session, instance_id: int, actor: User, include_withdrawn: bool = False
) -> list[Material]:
    if session.get(ProcessInstance, instance_id) is None:
        raise NotFound(msg("process instance {instance_id} not found", instance_id=instance_id))
    require(
        can_read_materials(session, actor, instance_id),
        msg("your agency has no step in process instance {instance_id}", instance_id=instance_id),
    )
    return _instance_rows(session, instance_id, include_withdrawn)


def _instance_rows(session: Session, instance_id: int, include_withdrawn: bool) -> list[Material]:
    stmt = select(Material).where(Material.instance_id == instance_id)
    if not include_withdrawn:
        stmt = stmt.where(Material.withdrawn_at.is_(None))
    return list(
        session.scalars(stmt.options(joinedload(Material.task), joinedload(Material.uploaded_by)).order_by(Material.id))
    )


def shown_with_task(session: Session, task: Task, actor: User) -> list[Material]:
    """The instance's materials for a step's page: empty when the caller may not read them."""
    if not can_read_materials(session, actor, task.instance_id):
        return []
    return _instance_rows(session, task.instance_id, include_withdrawn=False)


def project_materials(session: Session, code: str, actor: User) -> list[Material]:
    """The materials of every instance of a project the caller may read."""
    project = get_project(session, code)
    # In one statement, however many instances the project has.
    readable = select(ProcessInstance.id).where(ProcessInstance.project_id == project.id)
    if not can_read_all_materials(actor):
        readable = readable.where(select(Task.id).where(_agency_takes_part(actor, ProcessInstance.id)).exists())
    return list(
        session.scalars(
            select(Material)
            .where(Material.instance_id.in_(readable), Material.withdrawn_at.is_(None))
            .options(joinedload(Material.task), joinedload(Material.uploaded_by))
            .order_by(Material.id)
        )
    )


def fill_material_fields(
    session: Session, task: Task, schema: dict[str, Any] | None, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` with each material field set to the ids of the step's files for it (absent when
    none, so ``required`` reports it), and a hint per material field for its error message."""
    fields = material_fields(schema)
    if not fields or not isinstance(data, dict):
        return data, {}
    attached: dict[str | None, list[int]] = {}
    for material_id, field in session.execute(
        select(Material.id, Material.field)
        .where(Material.task_id == task.id, Material.withdrawn_at.is_(None), Material.field.in_(fields))
        .order_by(Material.id)
    ):
        attached.setdefault(field, []).append(material_id)
    filled = {k: v for k, v in data.items() if k not in fields}
    filled.update((field, ids) for field, ids in attached.items() if field is not None)
    hints = {}
    for name, spec in fields.items():
        title = ((schema or {}).get("properties") or {}).get(name, {}).get("title") or name
        types = spec.get("types")
        hints[name] = f"attach {title}" + (f" ({', '.join(types)})" if types else "") + " first"
    return filled, hints

"""Moving running instances of a process to another published version (owners and admins).

Each instance moves in its own transaction (``commit`` ends it; without one, in a savepoint of the
caller's), under its lock, or is reported
blocked with the reasons; a dry run moves nothing and says what would. What the people on an
instance see carries over: its open task rows (claims, materials, due dates, counted working days)
stay as they are, only a renamed step's name, form and instructions follow the new version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine.migration import migrate
from ..models import ENDED_STATUSES, ProcessDefinition, ProcessInstance, User
from ..text import msg
from . import events
from .agencies import lane_agencies
from .authz import can_publish, require
from .definitions import get_version, runtime_of
from .errors import Conflict, InvalidInput, NotFound
from .instance_change import changing_instance

log = logging.getLogger(__name__)
MAX_INSTANCES = 1000  # per request: a larger batch is sent in parts (instance_ids)


def migrate_instances(
    session: Session,
    key: str,
    actor: User,
    *,
    from_version: int,
    to_version: int,
    instance_ids: list[int] | None = None,
    dry_run: bool = False,
    reason: str = "",
    commit: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Move the instances of ``key`` version ``from_version`` (all live ones, or ``instance_ids``)
    to ``to_version``; answers ``{migratable, blocked: [{instance_id, reasons}], migrated}``."""
    require(can_publish(actor), msg("only process owners and admins migrate instances"))
    if from_version == to_version:
        raise InvalidInput(msg("from_version and to_version are the same"), {"to_version": [msg("another version")]})
    source, target = get_version(session, key, from_version), get_version(session, key, to_version)
    if target.kind != "bpmn":
        raise InvalidInput(
            msg("{key} is a decision table: its callers freeze it", key=key), {"key": [msg("a BPMN model")]}
        )
    if instance_ids is not None and not instance_ids:
        raise InvalidInput(msg("choose at least one instance"), {"instance_ids": [msg("choose at least one instance")]})
    ids = instance_ids if instance_ids is not None else _live_instances(session, source)
    if len(ids) > MAX_INSTANCES:
        raise InvalidInput(
            msg("at most {MAX_INSTANCES} instances per request", MAX_INSTANCES=MAX_INSTANCES),
            {"instance_ids": [msg("at most {MAX_INSTANCES}", MAX_INSTANCES=MAX_INSTANCES)]},
        )
    report: dict[str, Any] = {"migratable": [], "blocked": [], "migrated": []}
    for instance_id in dict.fromkeys(ids):
        savepoint = session.begin_nested()  # what one instance's move wrote goes, or stays, alone
        try:
            reasons = _migrate_one(session, instance_id, source, target, actor, dry_run, reason)
        except (NotFound, Conflict) as exc:
            reasons = [str(exc)]
        except Exception as exc:  # noqa: BLE001 - the engine could not align this one: it stays, the batch goes on
            log.exception("migrating instance %s of %s failed", instance_id, key)
            reasons = [f"the engine could not move it: {type(exc).__name__}: {exc}"]
        if reasons or dry_run:
            savepoint.rollback()
        else:
            savepoint.commit()
        if reasons:
            report["blocked"].append({"instance_id": instance_id, "reasons": reasons})
            continue
        report["migratable"].append(instance_id)
        if not dry_run:
            commit()
            report["migrated"].append(instance_id)
    if dry_run:
        session.rollback()  # the locks taken to look go too
    return report


def _live_instances(session: Session, definition: ProcessDefinition) -> list[int]:
    return list(
        session.scalars(
            select(ProcessInstance.id)
            .where(ProcessInstance.definition_id == definition.id, ProcessInstance.status.not_in(ENDED_STATUSES))
            .order_by(ProcessInstance.id)
        )
    )


def _migrate_one(
    session: Session,
    instance_id: int,
    source: ProcessDefinition,
    target: ProcessDefinition,
    actor: User,
    dry_run: bool,
    reason: str,
) -> list[str]:
    """Move one instance in the session's transaction; returns the reasons it cannot move (then
    nothing was changed)."""
    with changing_instance(session, instance_id, actor) as change:
        instance = change.instance
        if instance.definition_id != source.id:
            change.leave_unchanged()
            running = instance.definition
            return [f"instance {instance_id} runs {running.key} version {running.version}, not {source.version}"]
        if instance.status in ENDED_STATUSES:
            change.leave_unchanged()
            return [f"instance {instance_id} has ended ({instance.status})"]
        new_runtime = runtime_of(session, target)
        workflow = change.workflow
        agencies = lane_agencies(session)
        result = migrate(
            workflow,
            new_runtime.spec,
            new_runtime.subprocess_specs,
            same_agency=lambda old, new: old == new or agencies.get(old or "", old) == agencies.get(new or "", new),
        )
        if result.blocked or dry_run:
            change.leave_unchanged()
            return result.blocked
        change.move_to(target, workflow)
        ready = {step.task_id: step for step in new_runtime.ready_steps(workflow)}
        for row in change.open_items:
            step = ready.get(row.spiff_task_id)
            if row.is_step and step is not None:  # a renamed step shows its new name, form and instructions
                row.name, row.form, row.documentation = step.name, step.form, step.documentation
        events.record(
            session,
            "instance.migrated",
            actor,
            instance=instance,
            payload={
                "key": target.key,
                "from_version": source.version,
                "to_version": target.version,
                "renamed": result.renamed,
                "reason": reason,
            },
        )
    return []

"""Publishing process models: checked, versioned, immutable."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from ..engine.bpmn_xml import (
    business_rule_tasks,
    call_activities,
    canonical_content,
    decision_table,
    diagram_layout,
    parse_xml,
)
from ..engine.errors import ModelRejected, Problem
from ..engine.lint import LintResult, parse_forms
from ..engine.parser import ModelOutline, ParsedModel, model_outline, parse_model
from ..engine.runtime import ModelRuntime, runtime_for, use_calendar
from ..engine.serializer import diff_specs, spec_content
from ..models import ENDED_STATUSES, ProcessDefinition, ProcessInstance, Project, User
from ..text import msg
from . import events, model_tests
from .agencies import lane_agencies
from .authz import can_publish, require
from .errors import InvalidInput, ModelInvalid, NotFound
from .limits import limits_of
from .material_types import field_problems

T = TypeVar("T")

FORM_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}(\.[A-Za-z0-9_-]{1,40})?\.json")  # e.g. my_step.schema.json


def _checksum(bpmn: bytes, forms: Mapping[str, bytes], callees: Mapping[str, str], tests: list[Any]) -> str:
    """The content of a version: its XML, its forms, and the checksums of the called processes
    and decision tables it froze (so that publishing a caller again after a callee changed makes
    a new version, which its running instances can then be moved to)."""
    digest = hashlib.sha256(bpmn)
    for name in sorted(forms):
        digest.update(b"\0" + name.encode() + b"\0" + forms[name])
    for callee in sorted(callees):
        digest.update(b"\0callee\0" + callee.encode() + b"\0" + callees[callee].encode())
    if tests:  # (models without tests keep the checksums they always had)
        digest.update(b"\0tests\0" + json.dumps(tests, ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()


def latest(session: Session, key: str, kind: str | None = None) -> ProcessDefinition | None:
    return session.scalar(select(ProcessDefinition).where(ProcessDefinition.id == latest_id(key, kind)))


def latest_id(key: Any, kind: str | None = None) -> ScalarSelect[int]:
    """The id of the latest version of ``key`` (of that kind), as a subquery of a larger statement;
    ``key`` is a value or a bind parameter."""
    stmt = select(ProcessDefinition.id).where(ProcessDefinition.key == key)
    if kind is not None:
        stmt = stmt.where(ProcessDefinition.kind == kind)
    return stmt.order_by(ProcessDefinition.version.desc()).limit(1).scalar_subquery()


def get_version(session: Session, key: str, version: int) -> ProcessDefinition:
    definition = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
    )
    if definition is None:
        raise NotFound(msg("process definition {key} version {version} not found", key=key, version=version))
    return definition


def list_latest(session: Session) -> list[tuple[ProcessDefinition, int]]:
    """Each key's latest version, with the number of versions."""
    newest = (
        select(
            ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"), func.count().label("versions")
        )
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    rows = session.execute(
        select(ProcessDefinition, newest.c.versions)
        .join(newest, (ProcessDefinition.key == newest.c.key) & (ProcessDefinition.version == newest.c.version))
        .order_by(ProcessDefinition.key)
    )
    return [(definition, versions) for definition, versions in rows]


def _check_material_fields(forms: Mapping[str, dict[str, Any]]) -> None:
    problems = [
        Problem(f"form:{name}", message) for name, schema in sorted(forms.items()) for message in field_problems(schema)
    ]
    if problems:
        raise ModelRejected(problems)


def _checked(
    session: Session, bpmn: bytes, forms: Mapping[str, bytes], filename: str
) -> tuple[ParsedModel, ProcessDefinition | None]:
    """Lint and parse a model as publishing would; returns (parsed model, latest version of its key)
    or raises ModelInvalid listing every problem with its element."""
    limits = limits_of(session)
    try:
        outline = model_outline(bpmn, max_bytes=limits.max_bpmn_bytes)
        previous = latest(session, outline.key)
        if previous is not None and previous.kind != outline.kind:
            raise ModelRejected(
                [
                    Problem(
                        None,
                        msg("key {key!r} is already a published {kind} model", key=outline.key, kind=previous.kind),
                    )
                ]
            )
        forms = _with_inherited_forms(forms, outline.form_names, previous)
        model = parse_model(
            bpmn,
            forms,
            lane_agencies(session),
            max_bytes=limits.max_bpmn_bytes,
            max_form_bytes=limits.max_form_bytes,
            resolve=_resolver(session),
            filename=filename,
        )
        _check_material_fields(model.forms)
    except ModelRejected as exc:
        raise ModelInvalid(_summary(exc.problems), {"bpmn": [p.as_dict() for p in exc.problems]}) from None
    return model, previous


def check_model(
    session: Session, bpmn: bytes, actor: User, forms: Mapping[str, bytes] | None = None
) -> list[dict[str, Any]]:
    """The problems publishing would report (element and message each), without storing anything."""
    require(can_publish(actor), msg("only process owners and admins check and publish process models"))
    try:
        _checked(session, bpmn, forms or {}, "model.bpmn")
    except ModelInvalid as exc:
        problems: list[dict[str, Any]] = exc.errors["bpmn"]
        return problems
    return []


def versions_of(session: Session, key: str) -> list[ProcessDefinition]:
    """Every published version of a key, newest first."""
    found = list(
        session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc())
        )
    )
    if not found:
        raise NotFound(msg("no process definition {key!r}", key=key))
    return found


def diagram_of(session: Session, definition: ProcessDefinition, stage: str) -> ProcessDefinition:
    """The definition whose diagram shows the steps of ``stage``: the instance's own process, or the
    called process of that name (its latest version: the caller froze the version it calls)."""
    if not stage or stage in (definition.name, definition.key):
        return definition
    called = session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.kind == "bpmn", ProcessDefinition.name == stage)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    return called or definition


@dataclass
class _Draft:
    """A model checked as publishing would, with what it would store."""

    model: ParsedModel
    previous: ProcessDefinition | None
    bpmn: bytes
    checksum: str
    tests: list[dict[str, Any]]

    @property
    def unchanged(self) -> bool:
        """Nothing a version carries would change: the same content, or the same model, forms and
        diagram written another way (an edit undone in the modeler, another file name)."""
        previous, model = self.previous, self.model
        if previous is None:
            return False
        if previous.checksum == self.checksum:
            return True
        try:
            if previous.kind == model.kind == "dmn":  # a decision table: the same rules, however written
                return _canonical(previous.bpmn_xml) == _canonical(self.bpmn)
            same_layout = _layout(previous.bpmn_xml) == _layout(self.bpmn)
        except ModelRejected:  # the latest version was stored before today's rules: it differs
            return False
        return (
            previous.kind == model.kind == "bpmn"
            and previous.forms == model.forms
            and previous.tests == self.tests
            and spec_content(previous.spec_json) == spec_content(model.spec_json)
            and same_layout
        )


def stages_of(session: Session, definition: ProcessDefinition) -> list[tuple[str, str]]:
    """The stages a model runs through, as (label, the stage name its steps carry): the processes
    its call activities call, left to right, or the model itself when it calls none."""
    calls = _kept(_CALLS, definition, lambda: tuple(call_activities(_stored(definition.bpmn_xml))))
    if not calls:
        return [(definition.name, definition.name)]
    # The latest versions' names, in one statement however many processes the model calls.
    latest_ids = [latest_id(key, "bpmn") for key in sorted({key for _id, _label, key in calls})]
    names = select(ProcessDefinition.key, ProcessDefinition.name).where(ProcessDefinition.id.in_(latest_ids))
    named = {key: name for key, name in session.execute(names)}
    return [(label or named.get(key, key), named.get(key, key)) for _id, label, key in calls]


def _stored(xml: str | bytes) -> Any:
    """A model already in hand (stored, or checked by publishing) parsed again, with the same
    safeguards; its size was bounded when it came in."""
    data = xml.encode() if isinstance(xml, str) else xml
    return parse_xml(data, max_bytes=len(data) + 1)


def _layout(bpmn: str | bytes) -> list[tuple[str, tuple[float, ...]]]:
    return diagram_layout(_stored(bpmn))


def _canonical(xml: str | bytes) -> bytes:
    return canonical_content(_stored(xml))


def callers_of(session: Session, definition: ProcessDefinition) -> list[ProcessDefinition]:
    """The latest versions of the process models that call ``definition``'s key (a called process
    or a decision table): each froze the version it was published with, until published again."""
    found = []
    for caller, _count in list_latest(session):
        if caller.kind != "bpmn" or caller.key == definition.key:
            continue
        stored = caller.bpmn_xml.encode()
        try:
            outline = model_outline(stored, max_bytes=len(stored) + 1)
        except ModelRejected:  # a version stored before today's rules calls nothing we can read
            continue
        calls = outline.called_decisions if definition.kind == "dmn" else outline.called_processes
        if definition.key in calls:
            found.append(caller)
    return found


def republish(session: Session, key: str, actor: User) -> tuple[ProcessDefinition, bool]:
    """Publish the latest version of ``key`` again, so that it freezes the latest versions of what it
    calls (its model, forms and tests as they are; they must still pass)."""
    current = versions_of(session, key)[0]
    note = "使用所调用流程和决策表的最新版本 (callees' latest versions)"
    return publish(session, current.bpmn_xml.encode(), {}, actor, filename=f"{key}.bpmn", note=note)


def decisions_used(session: Session, definition: ProcessDefinition) -> list[dict[str, Any]]:
    """The decision tables a process model's business-rule tasks call, each with the latest
    version's inputs and outputs (what the task hands over and gets back)."""
    if definition.kind != "bpmn":
        return []
    used: list[dict[str, Any]] = []
    try:
        calls = business_rule_tasks(_stored(definition.bpmn_xml))
    except ModelRejected:  # a version stored before today's rules: it shows nothing here
        return used
    for task_id, key in calls:
        table = latest(session, key, "dmn")
        try:
            found = decision_table(_stored(table.bpmn_xml)) if table is not None else None
        except ModelRejected:
            found = None
        used.append({"task": task_id, "key": key, "version": table.version if table else None, "table": found})
    return used


def _draft(session: Session, bpmn: bytes, forms: Mapping[str, bytes], filename: str, tests: Any = None) -> _Draft:
    """The model checked, with its tests: those given (JSON text or parsed), else the latest version's."""
    cases = model_tests.parse_cases(tests) if tests is not None else None
    model, previous = _checked(session, bpmn, forms, filename)
    if cases is None:
        cases = list(previous.tests or []) if previous is not None and previous.kind == model.kind else []
    frozen = {}
    for kind, key in model.callees:
        callee = latest(session, key, kind)
        if callee is None:
            continue
        frozen[f"{kind}:{key}"] = callee.checksum
        # Steps of called processes run in our instances and are validated against our forms.
        for name, schema in (callee.forms if kind == "bpmn" else {}).items():
            model.forms.setdefault(name, schema)
    stored_forms = {
        name: json.dumps(schema, ensure_ascii=False, sort_keys=True).encode() for name, schema in model.forms.items()
    }
    return _Draft(model, previous, bpmn, _checksum(bpmn, stored_forms, frozen, cases), cases)


def _test_results(session: Session, draft: _Draft) -> list[model_tests.CaseResult]:
    """The draft's test cases run in a throw-away engine (none for a decision table)."""
    if not draft.tests or draft.model.kind != "bpmn":
        return []
    # A draft's engine is never cached: it lives as long as its run.
    runtime = ModelRuntime(draft.model.spec_json, draft.model.lane_routes, **_engine_settings(session))
    return model_tests.run_cases(session, runtime, draft.model.forms, draft.tests)


def _refuse_failing(results: list[model_tests.CaseResult]) -> None:
    problems = [
        Problem(failure["step"], msg("test case {name!r}: {value}", name=result.name, value=failure["message"]))
        for result in results
        for failure in result.failures
    ]
    if problems:
        raise ModelInvalid(_summary(problems), {"bpmn": [p.as_dict() for p in problems]})


def run_tests(
    session: Session, bpmn: bytes, forms: Mapping[str, bytes], actor: User, tests: Any = None
) -> list[dict[str, Any]]:
    """Run a draft's test cases (given, else the latest version's) without storing anything:
    each case's name, whether it passed, its failures (step and message) and the path it took."""
    require(can_publish(actor), msg("only process owners and admins check and publish process models"))
    draft = _draft(session, bpmn, forms, "model.bpmn", tests)
    return [vars(result) for result in _test_results(session, draft)]


def preview(
    session: Session,
    bpmn: bytes,
    forms: Mapping[str, bytes],
    actor: User,
    filename: str = "model.bpmn",
    tests: Any = None,
) -> dict[str, Any]:
    """What publishing would do, storing nothing: the version it would make (none when nothing
    changed), and the elements and forms added, removed and changed against the latest version.
    A model publishing would refuse raises ModelInvalid with every problem."""
    require(can_publish(actor), msg("only process owners and admins check and publish process models"))
    draft = _draft(session, bpmn, forms, filename, tests)
    model, previous = draft.model, draft.previous
    old_forms = previous.forms if previous is not None else {}
    return {
        "key": model.key,
        "name": model.name,
        "current_version": previous.version if previous is not None else None,
        "unchanged": draft.unchanged,
        "elements": (
            diff_specs(previous.spec_json, model.spec_json)
            if previous is not None and model.kind == previous.kind == "bpmn"
            else None
        ),
        "forms": {
            "added": sorted(set(model.forms) - set(old_forms)),
            "removed": sorted(set(old_forms) - set(model.forms)),
            "changed": sorted(n for n in set(model.forms) & set(old_forms) if model.forms[n] != old_forms[n]),
        },
        "tests": [vars(result) for result in _test_results(session, draft)],
    }


def publish(
    session: Session,
    bpmn: bytes,
    forms: Mapping[str, bytes],
    actor: User | None,
    filename: str = "model.bpmn",
    note: str = "",
    tests: Any = None,
) -> tuple[ProcessDefinition, bool]:
    """Check and store a new version with the publisher's change ``note``; returns (definition, created).

    Forms the BPMN names but the upload lacks are taken from the key's latest version, so that a
    diagram edited in the modeler can be published alone. Publishing what the latest version
    already holds (see ``_Draft.unchanged``) creates nothing and returns it. The model's test
    cases (``tests``, else the latest version's) must pass, or nothing is stored (422 naming the
    failing case and step).
    """
    if actor is not None:  # None: the system (deploy, seeding)
        require(can_publish(actor), msg("only process owners and admins publish process models"))
    draft = _draft(session, bpmn, forms, filename, tests)
    model, previous = draft.model, draft.previous
    if previous is not None and draft.unchanged:
        return previous, False
    _refuse_failing(_test_results(session, draft))
    definition = ProcessDefinition(
        key=model.key,
        kind=model.kind,
        version=(previous.version + 1) if previous else 1,
        name=model.name,
        bpmn_xml=bpmn.decode("utf-8-sig"),
        forms=model.forms,
        spec_json=model.spec_json,
        lane_routes=model.lane_routes,
        checksum=draft.checksum,
        change_note=note.strip(),
        tests=draft.tests,
        published_by_id=actor.id if actor else None,
    )
    session.add(definition)
    session.flush()
    events.record(
        session,
        "definition.published",
        actor,
        payload={
            "key": definition.key,
            "kind": definition.kind,
            "version": definition.version,
            "checksum": definition.checksum,
            "note": definition.change_note,
        },
    )
    return definition, True


def _resolver(session: Session) -> Callable[[str, str], bytes | None]:
    """Latest published XML of a called process ("bpmn") or decision table ("dmn")."""

    def resolve(kind: str, key: str) -> bytes | None:
        definition = latest(session, key, kind)
        return definition.bpmn_xml.encode() if definition is not None else None

    return resolve


def form_problems(name: str, text: str) -> list[str]:
    """What publishing would say of a form's JSON Schema text (empty when it is acceptable)."""
    result = LintResult()
    parse_forms({name: text.encode()}, result)
    problems = [p.message for p in result.problems]
    if not problems:
        problems = field_problems(result.forms[name])
    return problems


def add_form(session: Session, key: str, name: str, actor: User) -> ProcessDefinition:
    """A new, empty form for ``key``: published with its latest version, ready to be designed and
    given to a step (422 when the name is taken or not a form file name)."""
    current = versions_of(session, key)[0]
    if current.kind != "bpmn":
        raise InvalidInput(
            msg("{key} is a decision table: it has no forms", key=key), {"name": [msg("a process model's form")]}
        )
    if not FORM_NAME.fullmatch(name):
        raise InvalidInput(
            msg("a form file name is letters, digits, _ and -, ending in .json"),
            {"name": [msg("e.g. my_step.schema.json")]},
        )
    if name in current.forms:
        raise InvalidInput(msg("{key} already has a form {name}", key=key, name=name), {"name": [msg("taken")]})
    empty = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "type": "object",
        "properties": {},
    }
    note = f"新表单 {name}"
    definition, _created = publish(
        session, current.bpmn_xml.encode(), {name: json.dumps(empty).encode()}, actor, f"{key}.bpmn", note=note
    )
    return definition


def model_key(session: Session, bpmn: bytes) -> str | None:
    """The process (or decision) key a file publishes under (None when it cannot be read)."""
    try:
        return model_outline(bpmn, max_bytes=limits_of(session).max_bpmn_bytes).key
    except ModelRejected:
        return None


def referenced_forms(session: Session, bpmn: bytes) -> set[str]:
    """The form files a model names (empty when it cannot be read; publishing then says why)."""
    try:
        return set(model_outline(bpmn, max_bytes=limits_of(session).max_bpmn_bytes).form_names)
    except ModelRejected:
        return set()


def publication_order(session: Session, files: dict[str, bytes]) -> list[str]:
    """File names ordered so that decision tables and called processes are published before callers."""
    limits = limits_of(session)
    outlines: dict[str, ModelOutline | None] = {}
    for name, data in files.items():
        try:
            outlines[name] = model_outline(data, max_bytes=limits.max_bpmn_bytes)
        except ModelRejected:
            outlines[name] = None  # publishing reports the problem
    provides = {(o.kind, o.key): name for name, o in outlines.items() if o is not None}
    ordered: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in ordered or name in trail:
            return
        outline = outlines[name]
        if outline is not None:
            needs = [("bpmn", k) for k in outline.called_processes] + [("dmn", k) for k in outline.called_decisions]
            for need in needs:
                if need in provides:
                    visit(provides[need], (*trail, name))
        ordered.append(name)

    for name in sorted(files):
        visit(name, ())
    return ordered


def _with_inherited_forms(
    forms: Mapping[str, bytes], used: Set[str], previous: ProcessDefinition | None
) -> dict[str, bytes]:
    merged = dict(forms)
    if previous is not None:
        for name in used - set(forms):
            if name in previous.forms:
                merged[name] = json.dumps(previous.forms[name], ensure_ascii=False).encode()
    return merged


def _summary(problems: list[Problem]) -> str:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"the model cannot be published: {first.element or 'file'}: {first.message}{more}"


def runtime_of(session: Session, definition: ProcessDefinition) -> ModelRuntime:
    """The engine for a definition, with this session's calendar for workdays_after() in timers."""
    return runtime_for(
        definition.checksum, lambda: definition.spec_json, definition.lane_routes, **_engine_settings(session)
    )


def _engine_settings(session: Session) -> dict[str, Any]:
    """Sets this session's calendar for the engine's working-day functions; the script limits."""
    from .calendar_years import calendar_of

    use_calendar(calendar_of(session))
    limits = limits_of(session)
    return {"script_timeout": limits.script_timeout, "script_memory_bytes": limits.script_memory_bytes}


# A published version never changes, so its forms and diagram can be kept for the life of the
# process, keyed by content checksum like the engine's runtimes: a step reads its form on every
# change, and its page shows the form and the diagram on every view.
_FORMS: dict[str, dict[str, dict[str, Any]]] = {}
_DIAGRAMS: dict[str, str] = {}
_CALLS: dict[str, tuple[tuple[str, str, str], ...]] = {}  # the call activities (a lifecycle's stages)


def forms_of(definition: ProcessDefinition) -> dict[str, dict[str, Any]]:
    """A definition's forms by name (their JSON Schemas; shared by every caller: do not change them)."""
    return _kept(_FORMS, definition, lambda: definition.forms)


def diagram_xml(definition: ProcessDefinition) -> str:
    """A definition's BPMN (or DMN) XML, as published."""
    return _kept(_DIAGRAMS, definition, lambda: definition.bpmn_xml)


def _kept(kept: dict[str, T], definition: ProcessDefinition, read: Callable[[], T]) -> T:
    found = kept.get(definition.checksum)
    return found if found is not None else kept.setdefault(definition.checksum, read())


def form_schema(definition: ProcessDefinition, name: str | None) -> dict[str, Any] | None:
    """The JSON Schema of one of a definition's forms (None for a step without a form)."""
    return forms_of(definition).get(name) if name else None


def diff_versions(session: Session, key: str, version: int, against: int) -> dict[str, list[dict[str, Any]]]:
    """What version ``version`` of ``key`` added, removed and changed against version ``against``."""
    new, old = get_version(session, key, version), get_version(session, key, against)
    if new.kind != "bpmn":
        raise InvalidInput(
            msg("{key} is a decision table; only process models are compared", key=key), {"key": [msg("a BPMN model")]}
        )
    return diff_specs(old.spec_json, new.spec_json)


def latest_diff(versions: list[ProcessDefinition]) -> dict[str, list[dict[str, Any]]] | None:
    """What the newest of ``versions`` (newest first) changed against the one before, if any."""
    if len(versions) < 2 or versions[0].kind != "bpmn":
        return None
    return diff_specs(versions[1].spec_json, versions[0].spec_json)


def live_instances_by_version(session: Session, key: str, limit: int = 500) -> dict[int, list[tuple[int, str, str]]]:
    """Version -> its live instances (id, project code, status), oldest first: what a migration can move."""
    found: dict[int, list[tuple[int, str, str]]] = {}
    rows = session.execute(
        select(ProcessDefinition.version, ProcessInstance.id, Project.code, ProcessInstance.status)
        .join(ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
        .join(Project, ProcessInstance.project_id == Project.id)
        .where(ProcessDefinition.key == key, ProcessInstance.status.not_in(ENDED_STATUSES))
        .order_by(ProcessInstance.id)
        .limit(limit)
    )
    for version, instance_id, code, status in rows:
        found.setdefault(version, []).append((instance_id, code, status))
    return found

"""Model tests that owners write: each case runs a draft model in a throw-away engine.

A case gives the start data (and the project's facts a routing lane reads), then each step in
turn with the agency that must hold it, the day it is done and the form data (or a timer that
fires, as if its time had come, or a message from an agency's system, with its data), then what
must come out: the end event reached and its name, the steps still open, due dates and counted
working days. A case cannot upload files: a form's material fields count as holding one. Nothing
is written anywhere: the engine runs in memory, forms and lanes are checked by the rules of a live
instance (``validate_submission``, the agency directory), and the calendar is the one the service counts with.

    {"name": "…", "start": {"on": "2026-09-21", "data": {…}, "project": {"funding_level": "municipal"}},
     "steps": [{"step": "prepare_report", "agency": "HQ", "on": "2026-09-21", "data": {…}}, …,
               {"timer": "start_deadline"}, {"message": "resubmission", "agency": "HQ", "data": {…}}],
     "expect": {"end": "end_approved", "result": "可研已批复", "open": [], "due": {"decide": "2026-10-26"},
                "workdays": {"decide": 20}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.orm import Session

from ..engine.errors import EngineFailure, UnsafeData
from ..engine.runtime import ModelRuntime, TaskNotReady
from ..text import msg
from ..workdays import WorkCalendar
from .agencies import lane_agencies
from .calendar_years import calendar_of
from .catchers import catcher_agencies, unfilled_form
from .deadlines import parse_time_limit
from .errors import InvalidInput
from .forms import validate_submission
from .material_types import material_fields

MAX_CASES, MAX_STEPS = 50, 200
TEST_PROJECT: dict[str, Any] = {
    "code": "TEST-1",
    "name": "测试项目",
    "owner_unit": "",
    "funding_level": "municipal",
    "investment": None,
}

CASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "steps"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "start": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "on": {"type": "string", "format": "date"},
                "data": {"type": "object"},
                "project": {"type": "object"},
            },
        },
        "steps": {
            "type": "array",
            "maxItems": MAX_STEPS,
            "items": {
                "type": "object",
                "anyOf": [{"required": ["step"]}, {"required": ["timer"]}, {"required": ["message"]}],
                "additionalProperties": False,
                "properties": {
                    "step": {"type": "string", "minLength": 1},
                    "timer": {"type": "string", "minLength": 1},
                    "message": {"type": "string", "minLength": 1},
                    "agency": {"type": "string"},
                    "on": {"type": "string", "format": "date"},
                    "data": {"type": "object"},
                },
            },
        },
        "expect": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "end": {"type": "string"},
                "result": {"type": "string"},
                "open": {"type": "array", "items": {"type": "string"}},
                "due": {"type": "object", "additionalProperties": {"type": "string", "format": "date"}},
                "workdays": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
    },
}


@dataclass
class CaseResult:
    name: str
    passed: bool = True
    failures: list[dict[str, str | None]] = field(default_factory=list)  # {step, message}
    path: list[str] = field(default_factory=list)  # the steps done, in order

    def fail(self, step: str | None, message: str) -> None:
        self.passed = False
        self.failures.append({"step": step, "message": message})


def parse_cases(raw: Any) -> list[dict[str, Any]]:
    """Test cases from JSON text or already-parsed data (a list, or one case); 422 naming the
    case and field at fault when they are not well-formed."""
    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw or "[]")
        except ValueError as exc:
            raise InvalidInput(
                msg("the tests are not JSON: {exc}", exc=exc), {"tests": [msg("not JSON: {exc}", exc=exc)]}
            ) from None
    cases = raw if isinstance(raw, list) else [raw]
    if len(cases) > MAX_CASES:
        raise InvalidInput(
            msg("at most {MAX_CASES} test cases", MAX_CASES=MAX_CASES),
            {"tests": [msg("at most {MAX_CASES} cases", MAX_CASES=MAX_CASES)]},
        )
    validator = Draft202012Validator(CASE_SCHEMA, format_checker=FormatChecker())
    for index, case in enumerate(cases):
        error = next(iter(sorted(validator.iter_errors(case), key=lambda e: list(e.path))), None)
        if error is not None:
            where = ".".join(str(p) for p in error.path) or "case"
            name = case.get("name") if isinstance(case, dict) else None
            message = f"test case {name or index + 1!r}: {where}: {error.message}"
            raise InvalidInput(message, {"tests": [message]})
    return list(cases)


def run_cases(
    session: Session, runtime: ModelRuntime, forms: Mapping[str, dict[str, Any]], cases: list[dict[str, Any]]
) -> list[CaseResult]:
    """Run each case in a fresh in-memory workflow of ``runtime``; the database is only read (the
    agency directory and the calendar)."""
    agencies, calendar = lane_agencies(session), calendar_of(session)
    return [_run(runtime, forms, agencies, calendar, case) for case in cases]


def _run(
    runtime: ModelRuntime,
    forms: Mapping[str, dict[str, Any]],
    agencies: Mapping[str, str],
    calendar: WorkCalendar,
    case: dict[str, Any],
) -> CaseResult:
    result = CaseResult(case["name"])
    start = case.get("start") or {}
    # What a live instance is given about its project, with the case's own facts.
    project = {**TEST_PROJECT, **(start.get("project") or {})}
    facts = {"project": project}
    today = _day(start.get("on"))
    opened: dict[str, date | None] = {}  # step -> the day it opened
    expect = case.get("expect") or {}
    try:
        workflow = runtime.new_workflow({**(start.get("data") or {}), "project": project})
        runtime.advance(workflow)
    except (EngineFailure, UnsafeData) as exc:
        result.fail(getattr(exc, "element", None), msg("the start failed: {exc}", exc=exc))
        return result
    _note_opened(runtime, workflow, opened, today)
    for entry in case["steps"]:
        today = _day(entry.get("on")) or today
        if "timer" in entry:
            if not _fire(result, runtime, workflow, entry["timer"]):
                return result
            _note_opened(runtime, workflow, opened, today)
            continue
        if "message" in entry:
            if not _deliver(result, runtime, forms, agencies, facts, workflow, entry):
                return result
            _note_opened(runtime, workflow, opened, today)
            continue
        bpmn_id = entry["step"]
        ready = {step.bpmn_id: step for step in runtime.ready_steps(workflow)}
        step = ready.get(bpmn_id)
        if step is None:
            result.fail(
                bpmn_id,
                msg(
                    "{bpmn_id} is not open; open: {value}", bpmn_id=bpmn_id, value=", ".join(sorted(ready)) or "nothing"
                ),
            )
            return result
        agency = agencies.get(runtime.route(step.lane, facts) or "")
        if entry.get("agency") and entry["agency"] != agency:
            result.fail(
                bpmn_id,
                msg("{bpmn_id} is at {agency}, not {value}", bpmn_id=bpmn_id, agency=agency, value=entry["agency"]),
            )
        schema = forms.get(step.form or "")
        # A case cannot upload files: each material field of the form counts as holding one.
        data = {**dict.fromkeys(material_fields(schema), [1]), **(entry.get("data") or {})}
        errors = validate_submission(schema, data)
        if errors:
            result.fail(
                bpmn_id, msg("the form of {bpmn_id} refuses the data: {said}", bpmn_id=bpmn_id, said=_said(errors))
            )
            return result
        _check_clock(result, calendar, step.properties.get("time_limit"), bpmn_id, opened.get(bpmn_id), today, expect)
        try:
            runtime.complete(workflow, step.task_id, data)
        except (EngineFailure, TaskNotReady) as exc:
            result.fail(bpmn_id, msg("completing {bpmn_id} failed: {exc}", bpmn_id=bpmn_id, exc=exc))
            return result
        result.path.append(bpmn_id)
        opened.pop(bpmn_id, None)
        _note_opened(runtime, workflow, opened, today)
    _check_end(result, runtime, workflow, expect)
    return result


def _fire(result: CaseResult, runtime: ModelRuntime, workflow: Any, timer: str) -> bool:
    """The timer ``timer`` fires as if its time had come (a case runs in no particular time)."""
    try:
        fired = runtime.fire_timer_now(workflow, timer)
    except EngineFailure as exc:
        result.fail(timer, msg("after timer {timer} fired the model failed: {exc}", timer=timer, exc=exc))
        return False
    if not fired and not runtime.has_passed(workflow, timer):  # (a timer whose date is past fired already)
        result.fail(timer, msg("timer {timer} is not waiting", timer=timer))
        return False
    result.path.append(timer)
    return True


def _deliver(
    result: CaseResult,
    runtime: ModelRuntime,
    forms: Mapping[str, dict[str, Any]],
    agencies: Mapping[str, str],
    facts: dict[str, Any],
    workflow: Any,
    entry: dict[str, Any],
) -> bool:
    """Message ``entry["message"]`` arrives from the system of ``entry["agency"]``, as through
    POST /api/messages: something must wait for it, in that agency's lane, and its data must fill
    the catcher's form."""
    name, data = entry["message"], entry.get("data") or {}
    waiting = [w for w in runtime.waiting_messages(workflow) if w.name == name]
    if not waiting:
        names = ", ".join(sorted({w.name for w in runtime.waiting_messages(workflow)})) or "nothing"
        result.fail(name, msg("nothing waits for message {name}; waiting: {value}", name=name, value=names))
        return False
    lanes = sorted(agency or "?" for agency in catcher_agencies(runtime, waiting, {**workflow.data, **facts}, agencies))
    if entry.get("agency") and entry["agency"] not in lanes:
        result.fail(
            name,
            msg(
                "message {name} is for {agency}, not {value}", name=name, agency=", ".join(lanes), value=entry["agency"]
            ),
        )
    unfilled = unfilled_form(waiting, data, forms.get)
    if unfilled is not None:
        form, errors = unfilled
        result.fail(
            name,
            msg("message {name}'s data does not fill form {form}: {said}", name=name, form=form, said=_said(errors)),
        )
        return False
    try:
        runtime.deliver_message(workflow, name, data, {})
    except (EngineFailure, UnsafeData) as exc:
        result.fail(name, msg("after message {name} arrived the model failed: {exc}", name=name, exc=exc))
        return False
    result.path.append(name)
    return True


def _said(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(messages)}" for name, messages in sorted(errors.items()))


def _note_opened(runtime: ModelRuntime, workflow: Any, opened: dict[str, date | None], today: date | None) -> None:
    for step in runtime.ready_steps(workflow):
        opened.setdefault(step.bpmn_id, today)


def _check_clock(
    result: CaseResult,
    calendar: WorkCalendar,
    time_limit: str | None,
    bpmn_id: str,
    opened: date | None,
    done: date | None,
    expect: Mapping[str, Any],
) -> None:
    wanted_due = (expect.get("due") or {}).get(bpmn_id)
    if wanted_due is not None:
        limit = parse_time_limit(time_limit)
        due = None
        if limit is not None and opened is not None:
            count, unit = limit
            add = calendar.add_workdays if unit == "WD" else calendar.add_calendar_days
            due = add(opened, count).due.isoformat()
        if due != wanted_due:
            result.fail(
                bpmn_id,
                msg(
                    "{bpmn_id} is due {value}, not {wanted_due}",
                    bpmn_id=bpmn_id,
                    value=due or "never (no time limit)",
                    wanted_due=wanted_due,
                ),
            )
    wanted_days = (expect.get("workdays") or {}).get(bpmn_id)
    if wanted_days is not None:
        counted = calendar.workdays_between(opened, done) if opened and done else None
        if counted != wanted_days:
            result.fail(
                bpmn_id,
                msg(
                    "{bpmn_id} counted {counted} working days, not {wanted_days}",
                    bpmn_id=bpmn_id,
                    counted=counted,
                    wanted_days=wanted_days,
                ),
            )


def _check_end(result: CaseResult, runtime: ModelRuntime, workflow: Any, expect: Mapping[str, Any]) -> None:
    still_open = sorted(step.bpmn_id for step in runtime.ready_steps(workflow))
    if "open" in expect and still_open != sorted(expect["open"]):
        wanted = ", ".join(expect["open"]) or "nothing"
        result.fail(
            None,
            msg("open at the end: {value}; expected {wanted}", value=", ".join(still_open) or "nothing", wanted=wanted),
        )
    end = runtime.reached_end(workflow) if runtime.is_completed(workflow) else None
    if "end" in expect and (end[0] if end else None) != expect["end"]:
        result.fail(
            end[0] if end else None,
            msg("ended at {value}, not {value2}", value=end[0] if end else "no end event", value2=expect["end"]),
        )
    if "result" in expect and (end[1] if end else None) != expect["result"]:
        result.fail(
            end[0] if end else None,
            msg("the result is {value}, not {value2}", value=end[1] if end else "none", value2=expect["result"]),
        )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None

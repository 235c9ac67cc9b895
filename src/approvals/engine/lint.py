"""The model linter run on publish: every problem it finds names the element at fault.

It reads the XML tree rather than SpiffWorkflow's spec, because the checks are about what the
author wrote (lanes, forms, expressions, flows) and must run before anything is executed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from ..text import N_, msg
from .errors import ExpressionError, Problem, ScriptError
from .lint_flow import check_flow
from .sandbox import FUNCTIONS, check_cardinality, check_expression, check_script

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}

# Elements SpiffWorkflow cannot run correctly, refused with the reason.
UNSUPPORTED = {
    "complexGateway": N_("complex gateways are not supported; use exclusive, inclusive or parallel gateways"),
    "adHocSubProcess": N_("ad-hoc subprocesses are not supported"),
    "compensateEventDefinition": N_("compensation is not supported"),
    # Nothing here can call an outside system or deliver a message or condition yet: a model that
    # waited on one would publish and then never move.
    "serviceTask": N_("service tasks are not supported: nothing here can call an outside system yet"),
    "sendTask": N_("send tasks are not supported: nothing here can deliver a message yet"),
    "conditionalEventDefinition": N_("conditional events are not supported: nothing here re-evaluates a condition"),
}
# Catch events that would wait for something no one can send here. A message arrives through
# POST /api/messages at any message catch event (a start event too: it starts an instance, or an
# event subprocess) or a receive task; nothing here throws a signal.
MESSAGE_CATCHERS = ("startEvent", "intermediateCatchEvent", "boundaryEvent")
UNDELIVERABLE = {
    "messageEventDefinition": N_("a message"),
    "signalEventDefinition": N_("a signal"),
}
CATCH_EVENTS = ("startEvent", "intermediateCatchEvent", "boundaryEvent")
# A plain task is run by SpiffWorkflow as a manual step: someone must do it, so it needs a lane too.
HUMAN_TASKS = ("userTask", "manualTask", "task")
GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway"}
ROUTING_PROPERTY = "routing"
TIME_LIMIT_PROPERTY = "time_limit"
CLOCK_PROPERTY = "clock"
FOUR_EYES_PROPERTY = "four_eyes"  # comma-separated ids of earlier steps whose completer is excluded
TIME_LIMIT = re.compile(r"^([1-9][0-9]{0,3})(WD|CD)$")  # working days or calendar days


@dataclass
class LintResult:
    problems: list[Problem] = field(default_factory=list)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)  # filename -> parsed schema
    lane_routes: dict[str, str] = field(default_factory=dict)  # lane name -> routing expression

    def add(self, element: str | None, message: str) -> None:
        self.problems.append(Problem(element, message))


def _local(el: etree._Element) -> str:
    name: str = etree.QName(el).localname
    return name


def _label(el: etree._Element) -> str:
    name = el.get("name")
    return f"{_local(el)} {el.get('id')!r}" + (f" ({name})" if name else "")


def lint_model(
    tree: etree._ElementTree,
    forms: Mapping[str, bytes],
    lane_agencies: Mapping[str, str],
    extra_functions: tuple[str, ...] = (),
) -> LintResult:
    """Check a parsed BPMN tree against our rules. ``lane_agencies`` maps lane names to agency codes."""
    result = LintResult()
    root = tree.getroot()
    if etree.QName(root).namespace != BPMN or _local(root) != "definitions":
        result.add(None, msg("the root element must be bpmn:definitions"))
        return result
    processes = root.findall("bpmn:process", NS)
    if not processes:
        result.add(None, msg("the file contains no bpmn:process"))
    _check_unsupported(root, result)
    parse_forms(forms, result)
    for process in processes:
        _check_lanes(process, lane_agencies, result, extra_functions)
        _check_forms_used(process, result)
        _check_time_limits(process, result)
        _check_expressions(process, result, extra_functions)
        _check_merges(process, result)
    result.problems.extend(check_flow(root, result.forms))
    for el, what, text in _correlations(root):
        try:
            check_expression(text, extra_functions)
        except ExpressionError as exc:
            result.add(
                el.get("id"), msg("{what} of {label} is not allowed: {exc}", what=what, label=_label(el), exc=exc)
            )
    return result


# A repeating timer fires at most this often and this many times: a cycle like R/PT1S would open a
# step (or run a script) on every poll of the worker, for ever.
MIN_CYCLE = timedelta(hours=1)
MAX_REPEATS = 100


def cycle_problem(expression: str) -> str | None:
    """What is wrong with a timer cycle expression, or None. Only a quoted ISO 8601 cycle can be
    checked before it runs, so only that is accepted."""
    try:
        cycle = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError):
        cycle = None
    if not isinstance(cycle, str):
        return 'must be a quoted ISO 8601 cycle such as "R3/P1D", so that its bounds can be checked'
    try:
        repeats, _start, interval = TimerEventDefinition.parse_iso_recurring_interval(cycle)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises plain Exception and ValueError alike
        return f'{cycle!r} is not an ISO 8601 cycle such as "R3/P1D"'
    if repeats < 0 or repeats > MAX_REPEATS:
        return f"{cycle!r} must repeat a stated number of times, at most {MAX_REPEATS}"
    if interval < MIN_CYCLE:
        return f"{cycle!r} repeats more often than once an hour"
    return None


def _check_unsupported(root: etree._Element, result: LintResult) -> None:
    for el in root.iter(etree.Element):
        local = _local(el)
        if local in UNSUPPORTED:
            owner = el if el.get("id") else el.getparent()
            result.add(owner.get("id"), msg(UNSUPPORTED[local]))
        elif el.get("isForCompensation") == "true":
            result.add(el.get("id"), msg("compensation handlers are not supported"))
        elif (
            local in UNDELIVERABLE
            and _local(el.getparent()) in CATCH_EVENTS
            and not (local == "messageEventDefinition" and _local(el.getparent()) in MESSAGE_CATCHERS)
        ):
            event = el.getparent()
            result.add(
                event.get("id"),
                msg(
                    "{label} waits for {value}, which nothing here can deliver yet",
                    label=_label(event),
                    value=msg(UNDELIVERABLE[local]),
                ),
            )


def parse_forms(forms: Mapping[str, bytes], result: LintResult) -> None:
    """Each form file parsed into ``result.forms``, or a problem naming it."""
    for filename, raw in forms.items():
        try:
            schema = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            result.add(
                f"form:{filename}",
                msg("form {filename} is not valid JSON: {exc}", filename=filename, exc=exc),
            )
            continue
        if not isinstance(schema, dict) or schema.get("type") != "object":
            result.add(
                f"form:{filename}",
                msg("form {filename} must be a JSON Schema of type 'object'", filename=filename),
            )
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            result.add(
                f"form:{filename}",
                msg("form {filename} is not a valid JSON Schema: {message}", filename=filename, message=exc.message),
            )
            continue
        result.forms[filename] = schema


def _lane_of(process: etree._Element) -> dict[str, etree._Element]:
    lanes = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                lanes[ref.text.strip()] = lane
    return lanes


def _routing_expression(lane: etree._Element) -> str | None:
    for prop in lane.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
        if prop.get("name") == ROUTING_PROPERTY:
            return prop.get("value") or ""
    return None


# What a lane's routing expression may read: the project's recorded facts, never process data an
# applicant (or a script) could have set to pick their own reviewer.
ROUTING_NAMES = frozenset({"project"})


def _check_routing_names(expression: str, extra_functions: tuple[str, ...]) -> None:
    allowed = ROUTING_NAMES | set(FUNCTIONS) | set(extra_functions)
    for node in ast.walk(ast.parse(expression.strip(), mode="eval")):
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise ExpressionError(
                f"it may read only the project's facts (project['funding_level'], …), not {node.id!r}"
            )


def _check_lanes(process: Any, lane_agencies: Any, result: LintResult, extra_functions: Any) -> None:
    for lane in process.iterfind(".//bpmn:lane", NS):
        routing = _routing_expression(lane)
        if routing is not None:
            try:
                check_expression(routing, extra_functions)
                _check_routing_names(routing, extra_functions)
            except ExpressionError as exc:
                result.add(lane.get("id"), msg("lane routing expression is not allowed: {exc}", exc=exc))
            result.lane_routes[lane.get("name") or lane.get("id")] = routing
    lanes = _lane_of(process)
    for kind in HUMAN_TASKS:
        for task in process.iterfind(f".//bpmn:{kind}", NS):
            lane = lanes.get(task.get("id"))
            if lane is None:
                result.add(
                    task.get("id"),
                    msg("{label} is not in a lane; its lane names the agency that does it", label=_label(task)),
                )
                continue
            name = (lane.get("name") or "").strip()
            if name not in lane_agencies and _routing_expression(lane) is None:
                result.add(
                    task.get("id"),
                    msg(
                        "{label} is in lane {value!r}, which names no known agency (use an agency code or alias from "
                        "the directory, or give the lane a routing expression)",
                        label=_label(task),
                        value=name or lane.get("id"),
                    ),
                )


def _check_time_limits(process: Any, result: LintResult) -> None:
    for kind in HUMAN_TASKS:
        for task in process.iterfind(f".//bpmn:{kind}", NS):
            for prop in task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
                if prop.get("name") == TIME_LIMIT_PROPERTY and not TIME_LIMIT.match(prop.get("value") or ""):
                    result.add(
                        task.get("id"),
                        msg(
                            "time_limit of {label} is {value!r}; write working days as '20WD' "
                            "or calendar days as '7CD'",
                            label=_label(task),
                            value=prop.get("value"),
                        ),
                    )
                if prop.get("name") == FOUR_EYES_PROPERTY:
                    ids = {el.get("id") for el in process.iter(etree.Element) if el.get("id")}
                    for ref in four_eyes_steps(prop.get("value")):
                        if ref not in ids:
                            result.add(
                                task.get("id"),
                                msg(
                                    "four_eyes of {label} names {ref!r}, which is not a step of this process",
                                    label=_label(task),
                                    ref=ref,
                                ),
                            )
                if prop.get("name") == CLOCK_PROPERTY and prop.get("value") != "stopped":
                    result.add(
                        task.get("id"),
                        msg(
                            "clock of {label} is {value!r}; the only value is 'stopped' (the step "
                            "waits on the applicant or experts)",
                            label=_label(task),
                            value=prop.get("value"),
                        ),
                    )


def four_eyes_steps(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# Elements that may name a form: a user task (what staff fill) and a message catcher (what the
# sending system's data must fill).
FORM_HOLDERS = " | ".join(
    [".//bpmn:userTask", ".//bpmn:receiveTask"]
    + [
        f".//bpmn:{event}[bpmn:messageEventDefinition]"
        for event in ("startEvent", "intermediateCatchEvent", "boundaryEvent")
    ]
)


def _check_forms_used(process: Any, result: LintResult) -> None:
    for task in process.xpath(FORM_HOLDERS, namespaces=NS):
        ref = task.find("bpmn:extensionElements/spiffworkflow:formJsonSchemaFilename", NS)
        if ref is None or not (ref.text or "").strip():
            continue
        filename = ref.text.strip()
        if _local(task) != "userTask" and not _message_variable(task):
            result.add(
                task.get("id"),
                msg(
                    "{label} names form {filename!r} for its message but keeps the message in no variable "
                    "(set its message variable)",
                    label=_label(task),
                    filename=filename,
                ),
            )
        if filename not in result.forms:
            known = [p.element for p in result.problems]
            if f"form:{filename}" not in known:
                result.add(
                    task.get("id"),
                    msg(
                        "{label} uses form {filename!r}, which was not provided", label=_label(task), filename=filename
                    ),
                )


def _message_variable(catcher: etree._Element) -> str:
    """The variable a receive task or message event keeps the message's data in ("" if none)."""
    found = catcher.find(".//spiffworkflow:messageVariable", NS)
    return (found.text or "").strip() if found is not None else ""


def _expressions(process: Any) -> list[tuple[etree._Element, str, str]]:
    """(element, what, text) for every expression the engine will evaluate."""
    found = []
    for flow in process.iterfind(".//bpmn:sequenceFlow", NS):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            found.append((flow, "condition", cond.text))
    for timer in process.iterfind(".//bpmn:timerEventDefinition", NS):
        owner = timer.getparent()
        for part in ("timeDate", "timeDuration", "timeCycle"):
            el = timer.find(f"bpmn:{part}", NS)
            if el is not None:
                found.append((owner, f"timer {part}", el.text or ""))
    for conditional in process.iterfind(".//bpmn:conditionalEventDefinition", NS):
        el = conditional.find("bpmn:condition", NS)
        text = (el.text or "") if el is not None else ""
        found.append((conditional.getparent(), "condition of the conditional event", text))
    for payload in process.iterfind(".//spiffworkflow:messagePayload", NS):
        owner = next((e for e in payload.iterancestors() if e.get("id")), payload.getparent())
        found.append((owner, "message payload", payload.text or ""))
    for loop in process.iterfind(".//bpmn:multiInstanceLoopCharacteristics", NS):
        owner = loop.getparent()
        for part in ("loopCardinality", "completionCondition"):
            el = loop.find(f"bpmn:{part}", NS)
            if el is not None and (el.text or "").strip():
                found.append((owner, part, el.text))
    return found


def _scripts(process: Any) -> list[tuple[etree._Element, str, str]]:
    found = []
    for task in process.iterfind(".//bpmn:scriptTask", NS):
        script = task.find("bpmn:script", NS)
        found.append((task, "script", script.text if script is not None and script.text else ""))
    for el in process.iter(etree.Element):
        for part in ("preScript", "postScript"):
            script = el.find(f"bpmn:extensionElements/spiffworkflow:{part}", NS)
            if script is not None and (script.text or "").strip():
                found.append((el, part, script.text))
    return found


def _correlations(root: Any) -> list[tuple[etree._Element, str, str]]:
    """Message correlation expressions: declared beside the processes, evaluated on every message."""
    return [
        (prop, "correlation expression", path.text or "")
        for prop in root.iterfind("bpmn:correlationProperty", NS)
        for path in prop.iterfind("bpmn:correlationPropertyRetrievalExpression/bpmn:messagePath", NS)
    ]


def _check_expressions(process: Any, result: LintResult, extra_functions: Any) -> None:
    for el, what, text in _expressions(process):
        try:
            check_expression(text, extra_functions)
        except ExpressionError as exc:
            result.add(
                el.get("id"), msg("{what} of {label} is not allowed: {exc}", what=what, label=_label(el), exc=exc)
            )
            continue
        if what == "timer timeCycle":
            problem = cycle_problem(text)
            if problem:
                result.add(el.get("id"), msg("the timer cycle of {label} {problem}", label=_label(el), problem=problem))
        if what == "loopCardinality":
            try:
                literal = ast.literal_eval(text.strip())
            except (ValueError, SyntaxError):
                continue  # an expression: bounded when it is evaluated
            try:
                check_cardinality(literal)
            except ExpressionError as exc:
                result.add(el.get("id"), msg("{label}: {exc}", label=_label(el), exc=exc))
    for el, what, text in _scripts(process):
        if not text.strip():
            result.add(el.get("id"), msg("{label} has an empty script", label=_label(el)))
            continue
        try:
            check_script(text)
        except ScriptError as exc:
            result.add(
                el.get("id"), msg("{what} of {label} is not allowed: {exc}", what=what, label=_label(el), exc=exc)
            )


def _check_merges(process: Any, result: LintResult) -> None:
    """Flows may only merge at a gateway (or an end event), so every loop goes through one.

    SpiffWorkflow keeps completed tasks in its tree; implicit merges on tasks make loops that
    the engine handles badly, and a loop back must be visible in the diagram as a gateway.
    """
    incoming: dict[str, int] = {}
    for flow in process.iterfind("bpmn:sequenceFlow", NS):
        target = flow.get("targetRef")
        incoming[target] = incoming.get(target, 0) + 1
    for el in process:
        if not isinstance(el.tag, str):
            continue
        local = _local(el)
        if incoming.get(el.get("id"), 0) > 1 and local not in GATEWAYS and local != "endEvent":
            result.add(
                el.get("id"),
                msg(
                    "{label} has {value} incoming flows; flows (and loops back) must merge at a gateway",
                    label=_label(el),
                    value=incoming[el.get("id")],
                ),
            )
    for sub in process.iterfind(".//bpmn:subProcess", NS):
        _check_merges(sub, result)


def lane_routes(tree: etree._ElementTree) -> dict[str, str]:
    """Lane name -> routing expression, for every routed lane of a model (callees included by callers)."""
    routes = {}
    for lane in tree.getroot().iterfind(".//bpmn:lane", NS):
        expression = _routing_expression(lane)
        if expression is not None:
            routes[lane.get("name") or lane.get("id")] = expression
    return routes


def lint_decision(tree: etree._ElementTree) -> list[Problem]:
    """Every expression of a DMN decision table must pass the sandbox's check."""
    problems: list[Problem] = []
    root = tree.getroot()
    for table in root.iter("{*}decisionTable"):
        for expr in table.iterfind("{*}input/{*}inputExpression/{*}text"):
            _check_dmn(expr.text, table, "input expression", problems, as_test=False)
        for rule in table.iterfind("{*}rule"):
            for entry in rule.iterfind("{*}inputEntry/{*}text"):
                _check_dmn(entry.text, rule, "input entry", problems, as_test=True)
            for entry in rule.iterfind("{*}outputEntry/{*}text"):
                _check_dmn(entry.text, rule, "output entry", problems, as_test=False)
    return problems


def _check_dmn(text: str | None, owner: Any, what: str, problems: list[Problem], *, as_test: bool) -> None:
    text = (text or "").strip()
    if not text or text == "-":
        return
    # An input entry is a value ("'open'"), or a test that reads the input on its left ("< 4000000").
    candidates = [text.replace("?", "v"), f"v {text}"] if as_test else [text]
    errors = []
    for candidate in candidates:
        try:
            check_expression(candidate)
            return
        except ExpressionError as exc:
            errors.append(str(exc))
    problems.append(
        Problem(owner.get("id"), msg("{what} {text!r} is not allowed: {value}", what=what, text=text, value=errors[-1]))
    )

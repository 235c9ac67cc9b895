"""Flow checks: what owners get wrong when they draw, found before anything runs.

Within each process and embedded subprocess: an element nothing leads to, one that cannot be
reached from the start, one no flow leaves, one from which no path reaches an end; at an exclusive
or inclusive gateway, two flows with the same condition, a decision the step before it can give
that no flow takes, and a decision read from a step that has no form to give it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lxml import etree

from ..text import N_, msg
from .errors import Problem

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}

FLOW_NODES = {
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "businessRuleTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "inclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "complexGateway",
}
HUMAN_TASKS = {"userTask", "manualTask", "task"}
DECIDING_GATEWAYS = {"exclusiveGateway", "inclusiveGateway"}
END_IT = N_("end the path with an end event")
NO_WAY_OUT = N_("a loop with no way out?")


def check_flow(root: etree._Element, forms: Mapping[str, dict[str, Any]]) -> list[Problem]:
    """The flow problems of every process and embedded subprocess in the file."""
    problems: list[Problem] = []
    scopes = root.findall("bpmn:process", NS)
    for process in list(scopes):
        scopes.extend(el for el in process.iter() if _local(el) in ("subProcess", "transaction"))
    assigned = _names_assigned(root, forms)
    for scope in scopes:
        problems.extend(_check_scope(scope, forms, assigned))
    return problems


def _local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _label(el: etree._Element) -> str:
    name = el.get("name")
    return f"{_local(el)} {el.get('id')!r}" + (f" ({name})" if name else "")


def _check_scope(scope: etree._Element, forms: Mapping[str, dict[str, Any]], assigned: set[str]) -> list[Problem]:
    nodes = {el.get("id"): el for el in scope if _local(el) in FLOW_NODES and el.get("id")}
    outgoing: dict[str, list[etree._Element]] = {node: [] for node in nodes}
    incoming: dict[str, list[etree._Element]] = {node: [] for node in nodes}
    for flow in scope.iterfind("bpmn:sequenceFlow", NS):
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        if source in nodes and target in nodes:
            outgoing[source].append(flow)
            incoming[target].append(flow)
    boundaries: dict[str, list[str]] = {}  # activity -> the events attached to it
    for node_id, el in nodes.items():
        if _local(el) == "boundaryEvent" and el.get("attachedToRef") in nodes:
            boundaries.setdefault(el.get("attachedToRef", ""), []).append(node_id)

    def successors(node: str) -> list[str]:
        return [f.get("targetRef", "") for f in outgoing[node]] + boundaries.get(node, [])

    entries = [node for node, el in nodes.items() if _is_entry(el)]
    reached = _closure(entries, successors)
    ends = [node for node, el in nodes.items() if _local(el) == "endEvent" or not outgoing[node]]
    predecessors: dict[str, list[str]] = {node: [] for node in nodes}
    for node in nodes:
        for nxt in successors(node):
            predecessors[nxt].append(node)
    finishing = _closure(ends, lambda node: predecessors[node])

    problems = []
    for node, el in nodes.items():
        entered = _is_entry(el) or (_local(el) == "boundaryEvent" and node in reached)
        if not entered and not incoming[node] and _local(el) != "boundaryEvent":
            problems.append(Problem(node, msg("{label} is not connected: no flow leads to it", label=_label(el))))
        elif not entered and node not in reached:
            problems.append(Problem(node, msg("{label} cannot be reached from the start", label=_label(el))))
        elif not outgoing[node] and _local(el) != "endEvent" and not _ends_by_itself(el):
            problems.append(
                Problem(
                    node,
                    msg("{label} leads nowhere: no flow leaves it ({END_IT})", label=_label(el), END_IT=msg(END_IT)),
                )
            )
        elif node not in finishing:
            problems.append(
                Problem(
                    node,
                    msg(
                        "{label}: no path from here reaches an end event ({NO_WAY_OUT})",
                        label=_label(el),
                        NO_WAY_OUT=msg(NO_WAY_OUT),
                    ),
                )
            )
    for node, el in nodes.items():
        if _local(el) in DECIDING_GATEWAYS and len(outgoing[node]) > 1:
            before = [nodes[f.get("sourceRef", "")] for f in incoming[node]]
            problems.extend(_check_decision(el, outgoing[node], before, forms, assigned))
    return problems


def _is_entry(el: etree._Element) -> bool:
    """Where a path may begin without a flow into it."""
    local = _local(el)
    if local == "startEvent":
        return True
    if local in ("subProcess", "transaction") and el.get("triggeredByEvent") == "true":
        return True  # an event subprocess starts by its own event
    return local == "intermediateCatchEvent" and el.find("bpmn:linkEventDefinition", NS) is not None


def _ends_by_itself(el: etree._Element) -> bool:
    """A throw event that goes elsewhere (a link), or an event subprocess (it ends inside), needs no
    outgoing flow."""
    if _local(el) in ("subProcess", "transaction") and el.get("triggeredByEvent") == "true":
        return True
    return _local(el) == "intermediateThrowEvent" and el.find("bpmn:linkEventDefinition", NS) is not None


def _closure(start: Iterable[str], step: Callable[[str], list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(step(node))
    return seen


# -- decisions at gateways ---------------------------------------------------------------------


def _check_decision(
    gateway: etree._Element,
    flows: list[etree._Element],
    before: list[etree._Element],
    forms: Mapping[str, dict[str, Any]],
    assigned: set[str],
) -> list[Problem]:
    gateway_id = gateway.get("id")
    default = gateway.get("default")
    conditions = {}
    for flow in flows:
        text = flow.findtext("bpmn:conditionExpression", default="", namespaces=NS).strip()
        if text:
            conditions[flow.get("id")] = text
    problems = []
    seen: dict[str, str] = {}
    for flow_id, text in conditions.items():
        key = " ".join(text.split())
        if key in seen:
            problems.append(
                Problem(
                    gateway_id,
                    msg(
                        "flows {value!r} and {flow_id!r} of {label} have the same condition",
                        value=seen[key],
                        flow_id=flow_id,
                        label=_label(gateway),
                    ),
                )
            )
        seen.setdefault(key, flow_id)
    read = set().union(*(_names_read(text) for text in conditions.values())) if conditions else set()
    for step in before:
        if _local(step) not in HUMAN_TASKS:
            continue
        schema = forms.get(_form_of(step) or "")
        if schema is None:
            unknown = sorted(read - assigned) if "*" not in assigned else []
            if unknown:
                problems.append(
                    Problem(
                        step.get("id"),
                        msg(
                            "{label} decides on {value}, but {label2} before it has no form, and no "
                            "form or script of the model sets it",
                            label=_label(gateway),
                            value=", ".join(unknown),
                            label2=_label(step),
                        ),
                    )
                )
            continue
        if default is None:
            problems.extend(_uncovered(gateway, step, conditions.values(), schema))
    return problems


def _uncovered(
    gateway: etree._Element, step: etree._Element, conditions: Iterable[str], schema: dict[str, Any]
) -> list[Problem]:
    """Answers the step's form allows that no flow of the gateway takes (only where every
    condition is a plain test of one field: ``field == 'x'``, ``field in ('x', 'y')``, ``field``,
    ``not field``)."""
    tests = [_plain_test(text) for text in conditions]
    if not tests or any(t is None for t in tests) or len({t[0] for t in tests if t}) != 1:
        return []
    name = tests[0][0] if tests[0] else ""
    field = (schema.get("properties") or {}).get(name)
    if not isinstance(field, dict):
        return []
    answers = field.get("enum") if isinstance(field.get("enum"), list) else None
    if answers is None and field.get("type") == "boolean":
        answers = [True, False]
    if answers is None:
        return []
    taken = set().union(*(t[1] for t in tests if t))
    return [
        Problem(
            gateway.get("id"),
            msg(
                "when {label} answers {name} = {answer!r}, no flow of {label2} applies: "
                "add a flow for it or a default flow",
                label=_label(step),
                name=name,
                answer=answer,
                label2=_label(gateway),
            ),
        )
        for answer in answers
        if _hashable(answer) not in taken
    ]


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else repr(value)


def _plain_test(text: str) -> tuple[str, set[Any]] | None:
    """(field, the values for which the condition holds) for a plain test of one field, else None."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Name):
        return node.id, {True}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Name):
        return node.operand.id, {False}
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)):
        return None
    right = node.comparators[0]
    if isinstance(node.ops[0], ast.Eq | ast.Is) and isinstance(right, ast.Constant):
        return node.left.id, {_hashable(right.value)}
    if isinstance(node.ops[0], ast.In) and isinstance(right, ast.Tuple | ast.List | ast.Set):
        if all(isinstance(item, ast.Constant) for item in right.elts):
            return node.left.id, {_hashable(item.value) for item in right.elts if isinstance(item, ast.Constant)}
    return None


def _names_read(text: str) -> set[str]:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _form_of(step: etree._Element) -> str | None:
    ref = step.find("bpmn:extensionElements/spiffworkflow:formJsonSchemaFilename", NS)
    return ref.text.strip() if ref is not None and ref.text and ref.text.strip() else None


def _names_assigned(root: etree._Element, forms: Mapping[str, dict[str, Any]]) -> set[str]:
    """Every name a form asks for or a script, a multi-instance or a decision table sets, and the
    engine's own names: what a gateway may read without a form right before it."""
    names = {"True", "False", "None", "project"}
    for schema in forms.values():
        names.update((schema.get("properties") or {}).keys())
    for script in root.iter(f"{{{BPMN}}}script"):
        try:
            tree = ast.parse(script.text or "")
        except SyntaxError:
            continue
        names.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    for el in root.iter():
        if _local(el) in ("loopDataOutputRef", "outputDataItem", "inputDataItem", "dataObject", "dataObjectReference"):
            names.update(filter(None, [el.text and el.text.strip(), el.get("id"), el.get("name")]))
        if _local(el) in ("businessRuleTask", "callActivity"):
            names.add("*")  # a decision table or a called process may set anything: nothing is flagged after one
    return names

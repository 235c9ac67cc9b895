"""From uploaded bytes to a checked, executable model: safe XML, XSD, lint, SpiffWorkflow spec.

A BPMN model may call processes and decision tables published before it; their latest versions
are resolved at publish time and frozen into the new version's spec, so a running instance keeps
exactly the callees it started with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from ..text import msg
from .bpmn_xml import parse_xml
from .errors import ModelRejected, Problem
from .lint import BPMN, FORM_HOLDERS, NS, lane_routes, lint_decision, lint_model
from .serializer import specs_to_json

# (kind, key) -> the published XML of the latest version, or None.
Resolver = Callable[[str, str], bytes | None]


@dataclass
class ParsedModel:
    kind: str  # "bpmn" or "dmn"
    key: str
    name: str
    spec_json: str
    forms: dict[str, Any]
    lane_routes: dict[str, str]
    callees: tuple[tuple[str, str], ...] = ()  # (kind, key) of every process and decision it calls


@dataclass(frozen=True)
class ModelOutline:
    kind: str
    key: str
    form_names: frozenset[str]
    called_processes: frozenset[str]
    called_decisions: frozenset[str]


def _element_at_line(tree: etree._ElementTree, line: int | None) -> str | None:
    if not line:
        return None
    for el in tree.getroot().iter(etree.Element):
        if el.sourceline == line:
            while el is not None and not el.get("id"):  # the nearest element with an id names the place
                el = el.getparent()
            return el.get("id") if el is not None else None
    return None


def _is_dmn(tree: etree._ElementTree) -> bool:
    root = etree.QName(tree.getroot())
    return root.localname == "definitions" and root.namespace in DMN_SCHEMAS


def model_outline(data: bytes, *, max_bytes: int) -> ModelOutline:
    """What a file is, its key, the forms it names and what it calls, read before the full check."""
    tree = parse_xml(data, max_bytes=max_bytes)
    if _is_dmn(tree):
        return ModelOutline("dmn", _decision_id(tree), frozenset(), frozenset(), frozenset())
    root = tree.getroot()
    key = _main_process_id(tree)
    local = {p.get("id") for p in root.iterfind("bpmn:process", NS)}
    forms = {
        el.text.strip()
        for holder in root.xpath(FORM_HOLDERS, namespaces=NS)
        for el in holder.iterfind("bpmn:extensionElements/spiffworkflow:formJsonSchemaFilename", NS)
        if el.text
    }
    processes = {c.get("calledElement") for c in root.iterfind(".//bpmn:callActivity", NS)} - local - {None}
    decisions = {
        el.text.strip()
        for el in root.iterfind(".//bpmn:businessRuleTask/bpmn:extensionElements/spiffworkflow:calledDecisionId", NS)
        if el.text
    }
    return ModelOutline("bpmn", key, frozenset(forms), frozenset(processes), frozenset(decisions))


def _decision_id(tree: etree._ElementTree) -> str:
    decisions = tree.getroot().findall("{*}decision")
    if len(decisions) != 1 or not decisions[0].get("id"):
        raise ModelRejected([Problem(None, msg("a DMN file must hold exactly one decision with an id"))])
    return str(decisions[0].get("id"))


def _main_process_id(tree: etree._ElementTree) -> str:
    root = tree.getroot()
    if etree.QName(root).namespace != BPMN or etree.QName(root).localname != "definitions":
        raise ModelRejected([Problem(None, msg("the root element must be bpmn:definitions (a BPMN 2.0 file)"))])
    if root.find("bpmn:process", NS) is None:
        raise ModelRejected([Problem(None, msg("the file contains no bpmn:process"))])
    executable = [p.get("id") for p in root.iterfind("bpmn:process", NS) if p.get("isExecutable") != "false"]
    if not executable:
        raise ModelRejected(
            [
                Problem(
                    None,
                    msg(
                        'every bpmn:process in the file has isExecutable="false" (an interchange model, meant to be '
                        'drawn, not run); mark the process to run isExecutable="true"'
                    ),
                )
            ]
        )
    called = {c.get("calledElement") for c in root.iterfind(".//bpmn:callActivity", NS)}
    candidates = [pid for pid in executable if pid not in called]
    if len(candidates) != 1:
        raise ModelRejected(
            [
                Problem(
                    None,
                    msg(
                        "the file must contain exactly one executable process that no call "
                        "activity in it calls; found {value}",
                        value=candidates or "none",
                    ),
                )
            ]
        )
    return str(candidates[0])


def _validate(validator: BpmnValidator, tree: etree._ElementTree, filename: str, what: str) -> None:
    try:
        validator.validate(tree, filename)
    except ValidationException as exc:
        line = exc.line_number if isinstance(exc.line_number, int) else None
        raise ModelRejected(
            [
                Problem(
                    _element_at_line(tree, line),
                    msg("not valid {what} (line {line}): {exc}", what=what, line=line, exc=exc),
                )
            ]
        ) from None


def parse_decision(dmn: bytes, *, max_bytes: int, filename: str = "decision.dmn") -> ParsedModel:
    """Check a DMN decision table; it is stored as published XML and compiled into its callers."""
    tree = parse_xml(dmn, max_bytes=max_bytes, what="DMN file")
    if not _is_dmn(tree):
        raise ModelRejected([Problem(None, msg("the root element must be a DMN definitions element"))])
    namespace = etree.QName(tree.getroot()).namespace
    _validate(BpmnValidator(DMN_SCHEMAS[namespace]), tree, filename, "DMN")
    key = _decision_id(tree)
    problems = lint_decision(tree)
    if problems:
        raise ModelRejected(problems)
    decision = tree.getroot().find("{*}decision")
    return ParsedModel("dmn", key, decision.get("name") or key, "", {}, {})


def _add_callees(
    parser: SpiffBpmnParser,
    outline: ModelOutline,
    tree: Any,
    resolve: Resolver,
    max_bytes: int,
    routes: dict[str, str],
    seen: set[tuple[str, str]],
) -> list[Problem]:
    """Add the published XML of every process and decision the model calls, transitively.

    The callees' lane routing expressions are added to ``routes``: their steps run in our instances."""
    problems: list[Problem] = []
    pending = [("bpmn", key) for key in outline.called_processes] + [("dmn", k) for k in outline.called_decisions]
    while pending:
        kind, key = pending.pop()
        if (kind, key) in seen:
            continue
        seen.add((kind, key))
        xml = resolve(kind, key)
        if xml is None:
            caller = _caller_of(tree, kind, key)
            what = "process" if kind == "bpmn" else "decision table"
            problems.append(
                Problem(
                    caller, msg("calls {what} {key!r}, which is not published; publish it first", what=what, key=key)
                )
            )
            continue
        callee = parse_xml(xml, max_bytes=max_bytes)
        if kind == "dmn":
            parser.add_dmn_xml(callee.getroot(), f"{key}.dmn")
            continue
        parser.add_bpmn_xml(callee, f"{key}.bpmn")
        routes.update({lane: expr for lane, expr in lane_routes(callee).items() if lane not in routes})
        inner = model_outline(xml, max_bytes=max_bytes)
        pending += [("bpmn", k) for k in inner.called_processes] + [("dmn", k) for k in inner.called_decisions]
    return problems


def _caller_of(tree: Any, kind: str, key: str) -> str | None:
    root = tree.getroot()
    if kind == "bpmn":
        for call in root.iterfind(".//bpmn:callActivity", NS):
            if call.get("calledElement") == key:
                caller: str | None = call.get("id")
                return caller
    for task in root.iterfind(".//bpmn:businessRuleTask", NS):
        ref = task.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NS)
        if ref is not None and (ref.text or "").strip() == key:
            found: str | None = task.get("id")
            return found
    return None


def parse_model(
    bpmn: bytes,
    forms: Mapping[str, bytes],
    lane_agencies: Mapping[str, str],
    *,
    max_bytes: int,
    max_form_bytes: int,
    resolve: Resolver = lambda kind, key: None,
    filename: str = "model.bpmn",
) -> ParsedModel:
    """Parse and check a model; raise ModelRejected listing every problem found."""
    tree = parse_xml(bpmn, max_bytes=max_bytes)
    if _is_dmn(tree):
        return parse_decision(bpmn, max_bytes=max_bytes, filename=filename)
    too_big = [
        Problem(
            f"form:{n}",
            msg(
                "form {n} is {len} bytes; the limit is {max_form_bytes}", n=n, len=len(b), max_form_bytes=max_form_bytes
            ),
        )
        for n, b in forms.items()
        if len(b) > max_form_bytes
    ]
    if too_big:
        raise ModelRejected(too_big)
    _validate(VALIDATOR, tree, filename, "BPMN 2.0")
    lint = lint_model(tree, forms, lane_agencies)
    outline = model_outline(bpmn, max_bytes=max_bytes)
    parser = SpiffBpmnParser(validator=None)
    routes = dict(lint.lane_routes)
    callees: set[tuple[str, str]] = set()
    problems = lint.problems + _add_callees(parser, outline, tree, resolve, max_bytes, routes, callees)
    if problems:
        raise ModelRejected(problems)
    try:
        parser.add_bpmn_xml(tree, filename)
        spec = parser.get_spec(outline.key)
        subprocess_specs = parser.get_subprocess_specs(outline.key)
    except ValidationException as exc:
        raise ModelRejected([Problem(exc.id or None, str(exc))]) from None
    return ParsedModel(
        kind="bpmn",
        key=outline.key,
        name=spec.description or outline.key,
        spec_json=specs_to_json(spec, subprocess_specs),
        forms=lint.forms,
        lane_routes=routes,
        callees=tuple(sorted(callees)),
    )

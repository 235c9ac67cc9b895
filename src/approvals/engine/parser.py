"""From uploaded bytes to a checked, executable model: safe XML, XSD, lint, SpiffWorkflow spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from .bpmn_xml import parse_xml
from .errors import ModelRejected, Problem
from .lint import BPMN, NS, lint_model
from .serializer import specs_to_json


@dataclass(frozen=True)
class HumanStep:
    """What the service needs to know about a user or manual task of a model."""

    bpmn_id: str
    name: str
    lane: str | None
    form: str | None
    documentation: str


@dataclass
class ParsedModel:
    key: str
    name: str
    spec_json: str
    forms: dict[str, dict[str, Any]]
    lane_routes: dict[str, str]
    steps: dict[str, HumanStep] = field(default_factory=dict)


def _element_at_line(tree: etree._ElementTree, line: int | None) -> str | None:
    if not line:
        return None
    for el in tree.getroot().iter(etree.Element):
        if el.sourceline == line and el.get("id"):
            return el.get("id")
    return None


@dataclass(frozen=True)
class ModelOutline:
    key: str
    form_names: set[str]


def model_outline(bpmn: bytes, *, max_bytes: int) -> ModelOutline:
    """The process key and the form files a model names, read before the full check."""
    tree = parse_xml(bpmn, max_bytes=max_bytes)
    names = {el.text.strip() for el in tree.getroot().iterfind(
        ".//bpmn:userTask/bpmn:extensionElements/spiffworkflow:formJsonSchemaFilename", NS) if el.text}
    return ModelOutline(_main_process_id(tree), names)


def _main_process_id(tree: etree._ElementTree) -> str:
    root = tree.getroot()
    if etree.QName(root).namespace != BPMN or etree.QName(root).localname != "definitions":
        raise ModelRejected([Problem(None, "the root element must be bpmn:definitions (a BPMN 2.0 file)")])
    if root.find("bpmn:process", NS) is None:
        raise ModelRejected([Problem(None, "the file contains no bpmn:process")])
    executable = [p.get("id") for p in root.iterfind("bpmn:process", NS) if p.get("isExecutable") != "false"]
    called = {c.get("calledElement") for c in root.iterfind(".//bpmn:callActivity", NS)}
    candidates = [pid for pid in executable if pid not in called]
    if len(candidates) != 1:
        raise ModelRejected([Problem(None, "the file must contain exactly one executable process that no call "
                                           f"activity in it calls; found {candidates or 'none'}")])
    return candidates[0]


def parse_model(
    bpmn: bytes,
    forms: Mapping[str, bytes],
    lane_agencies: Mapping[str, str],
    *,
    max_bytes: int,
    max_form_bytes: int,
    filename: str = "model.bpmn",
) -> ParsedModel:
    """Parse and check a model; raise ModelRejected listing every problem found."""
    tree = parse_xml(bpmn, max_bytes=max_bytes)
    too_big = [Problem(f"form:{n}", f"form {n} is {len(b)} bytes; the limit is {max_form_bytes}")
               for n, b in forms.items() if len(b) > max_form_bytes]
    if too_big:
        raise ModelRejected(too_big)
    try:
        VALIDATOR.validate(tree, filename)
    except ValidationException as exc:
        line = exc.line_number if isinstance(exc.line_number, int) else None
        raise ModelRejected([Problem(_element_at_line(tree, line),
                                     f"not valid BPMN 2.0 (line {line}): {exc}")]) from None
    lint = lint_model(tree, forms, lane_agencies)
    if lint.problems:
        raise ModelRejected(lint.problems)
    key = _main_process_id(tree)
    parser = SpiffBpmnParser(validator=None)
    try:
        parser.add_bpmn_xml(tree, filename)
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except ValidationException as exc:
        raise ModelRejected([Problem(exc.id or None, str(exc))]) from None
    model = ParsedModel(
        key=key,
        name=spec.description or key,
        spec_json=specs_to_json(spec, subprocess_specs),
        forms=lint.forms,
        lane_routes=lint.lane_routes,
    )
    for process_spec in (spec, *subprocess_specs.values()):
        for task_spec in process_spec.task_specs.values():
            if getattr(task_spec, "manual", False):
                extensions = getattr(task_spec, "extensions", {}) or {}
                model.steps[task_spec.bpmn_id] = HumanStep(
                    bpmn_id=task_spec.bpmn_id,
                    name=task_spec.bpmn_name or task_spec.bpmn_id,
                    lane=task_spec.lane,
                    form=extensions.get("formJsonSchemaFilename"),
                    documentation=task_spec.documentation or "",
                )
    return model

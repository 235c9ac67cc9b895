"""Workflow (de)serialization: the spec is stored once per definition version, the state without it.

SpiffWorkflow's default converter embeds the whole spec in every saved state; ours leaves it out
and takes the (cached) spec objects on load, which is both smaller and faster.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG


class SpeclessWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]  # SpiffWorkflow ships no type information
    """Converts a top-level workflow without its specs; restores it onto given spec objects."""

    def to_dict(self, workflow: Any) -> Any:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: Any, spec: Any = None, subprocess_specs: Any = None) -> Any:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    return registry


REGISTRY = _registry()
_SERIALIZER = BpmnWorkflowSerializer(REGISTRY)
_ENCODER = create_encoder(REGISTRY)
STATE_FORMAT = f"approvals-1/spiff-{_SERIALIZER.VERSION}"


def specs_to_json(spec: Any, subprocess_specs: dict[str, Any]) -> str:
    return json.dumps(
        {
            "spec": REGISTRY.convert(spec),
            "subprocess_specs": {name: REGISTRY.convert(s) for name, s in subprocess_specs.items()},
        }
    )


def specs_from_json(text: str) -> Any:
    dct = json.loads(text)
    spec = REGISTRY.restore(dct["spec"])
    subprocess_specs = {name: REGISTRY.restore(s) for name, s in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def spec_content(spec_json: str) -> Any:
    """A published spec as a comparable value, without the file name it was uploaded under."""
    dct = json.loads(spec_json)
    for spec in (dct["spec"], *dct["subprocess_specs"].values()):
        spec.pop("file", None)
    return dct


# orjson writes a state about ten times faster than the standard library (every step saves one),
# with what it cannot write natively handed to the registry as the library's encoder does: dates
# and datetimes (passed through, so they keep their tagged form), decimals, sets. (A UUID it would
# write as plain text, not tagged; task data holds none: data is checked on entry, engine/data.py.)
_DEFAULT = _ENCODER().default
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def workflow_to_json(workflow: BpmnWorkflow) -> str:
    # Not the serializer's "encoder mode": that is a flag on the shared registry, unsafe across threads.
    converted = REGISTRY.convert(workflow)
    try:
        return orjson.dumps(converted, default=_DEFAULT, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:  # what orjson refuses (an integer over 64 bits, a key that is no text)
        return json.dumps(converted, cls=_ENCODER, separators=(",", ":"))


def workflow_from_json(text: str, spec: Any, subprocess_specs: Any, script_engine: Any) -> BpmnWorkflow:
    # Read with the standard library: orjson would read an integer over 64 bits as a float.
    workflow = REGISTRY.restore(json.loads(text), spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow


# Attributes of a task spec that are wiring, not what an owner changed (they move whenever a
# neighbour is added or removed).
_WIRING = frozenset({"inputs", "outputs", "typename", "name"})


# SpiffWorkflow's attribute names, as an owner calls what changed.
_ATTRIBUTES = {
    "bpmn_name": "name",
    "cond_task_specs": "conditions",
    "default_task_spec": "default flow",
    "formJsonSchemaFilename": "form",
    "script": "script",
    "event_definition": "event",
}


def _readable(attributes: set[str], old: Any, new: Any) -> list[str]:
    """The changed attributes by the names owners use; a change of extensions says which (the
    form, the time limit, the clock, four eyes…)."""
    found = {_ATTRIBUTES.get(name, name) for name in attributes if name != "extensions"}
    if "extensions" in attributes:
        before, after = getattr(old, "extensions", {}) or {}, getattr(new, "extensions", {}) or {}
        for key in set(before) | set(after):
            if key == "properties":
                props_before, props_after = before.get(key) or {}, after.get(key) or {}
                found.update(
                    p for p in set(props_before) | set(props_after) if props_before.get(p) != props_after.get(p)
                )
            elif before.get(key) != after.get(key):
                found.add(_ATTRIBUTES.get(key, key))
    return sorted(found)


def diff_specs(old_json: str, new_json: str) -> dict[str, list[dict[str, Any]]]:
    """The elements added, removed and changed between two published versions, in the main
    process and in the called processes each froze, each as ``{process, bpmn_id, name, what}``
    (``what``: the changed attributes, e.g. lane, extensions)."""
    old, old_called = specs_from_json(old_json)
    new, new_called = specs_from_json(new_json)
    found: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    _diff_process(old, new, found)
    for name in sorted(set(old_called) | set(new_called)):
        _diff_process(old_called.get(name), new_called.get(name), found)
    for elements in found.values():
        elements.sort(key=lambda e: (e["process"] != new.name, e["process"], e["bpmn_id"]))
    return found


def _diff_process(old: Any, new: Any, found: dict[str, list[dict[str, Any]]]) -> None:
    process = (new or old).name

    def element(spec: Any, what: list[str] | None = None) -> dict[str, Any]:
        return {"process": process, "bpmn_id": spec.bpmn_id, "name": spec.bpmn_name or "", "what": what or []}

    if old is None or new is None:  # a called process only one version calls
        side = "added" if old is None else "removed"
        found[side].extend(element(s) for s in (new or old).task_specs.values() if s.bpmn_id)
        return
    diff = SpecDiff(REGISTRY, old, new)
    for spec, attributes in diff.changed.items():
        what = _readable(set(attributes) - _WIRING, spec, diff.alignment[spec])
        if what == [] and "typename" in attributes:
            what = ["type"]
        if spec.bpmn_id and what:
            found["changed"].append(element(spec, what))
    found["added"].extend(element(s) for s in diff.added if s.bpmn_id)
    found["removed"].extend(element(s) for s in diff.removed if s.bpmn_id)

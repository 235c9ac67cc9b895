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


_REGISTRY = _registry()
_SERIALIZER = BpmnWorkflowSerializer(_REGISTRY)
_ENCODER = create_encoder(_REGISTRY)
STATE_FORMAT = f"approvals-1/spiff-{_SERIALIZER.VERSION}"


def specs_to_json(spec: Any, subprocess_specs: dict[str, Any]) -> str:
    return json.dumps(
        {
            "spec": _REGISTRY.convert(spec),
            "subprocess_specs": {name: _REGISTRY.convert(s) for name, s in subprocess_specs.items()},
        }
    )


def specs_from_json(text: str) -> Any:
    dct = json.loads(text)
    spec = _REGISTRY.restore(dct["spec"])
    subprocess_specs = {name: _REGISTRY.restore(s) for name, s in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def workflow_to_json(workflow: BpmnWorkflow) -> str:
    # Not the serializer's "encoder mode": that is a flag on the shared registry, unsafe across threads.
    return json.dumps(_REGISTRY.convert(workflow), cls=_ENCODER, separators=(",", ":"))


def workflow_from_json(text: str, spec: Any, subprocess_specs: Any, script_engine: Any) -> BpmnWorkflow:
    workflow = _REGISTRY.restore(json.loads(text), spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow


# Attributes of a task spec that are wiring, not what an owner changed (they move whenever a
# neighbour is added or removed).
_WIRING = frozenset({"inputs", "outputs", "typename", "name"})


def diff_specs(old_json: str, new_json: str) -> dict[str, list[dict[str, Any]]]:
    """The elements of the main process added, removed and changed between two published versions,
    each as ``{bpmn_id, name, what}`` (``what``: the changed attributes, e.g. lane, extensions)."""
    old, _ = specs_from_json(old_json)
    new, _ = specs_from_json(new_json)
    diff = SpecDiff(_REGISTRY, old, new)

    def element(spec: Any, what: list[str] | None = None) -> dict[str, Any]:
        return {"bpmn_id": spec.bpmn_id, "name": spec.bpmn_name or "", "what": what or []}

    changed = []
    for spec, attributes in diff.changed.items():
        what = sorted(set(attributes) - _WIRING)
        if what == [] and "typename" in attributes:
            what = ["type"]
        if spec.bpmn_id and what:
            changed.append(element(spec, what))
    return {
        "added": sorted((element(s) for s in diff.added if s.bpmn_id), key=lambda e: e["bpmn_id"]),
        "removed": sorted((element(s) for s in diff.removed if s.bpmn_id), key=lambda e: e["bpmn_id"]),
        "changed": sorted(changed, key=lambda e: e["bpmn_id"]),
    }

"""Running instances of a published model: start, load, complete a human step, save.

One ``ModelRuntime`` per definition version holds the deserialized spec; it is immutable, so it is
cached for the life of the process (see ``runtime_for``). Workflows themselves are never cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState

from .compact import compact
from .data import check_safe_data
from .errors import EngineFailure, ExpressionError
from .lint import FOUR_EYES_PROPERTY, four_eyes_steps
from .sandbox import CALENDAR, NOW, SandboxEnvironment, check_expression, evaluate
from .serializer import specs_from_json, workflow_from_json, workflow_to_json


@dataclass(frozen=True)
class ReadyStep:
    """A human task the engine is waiting on."""

    task_id: str
    bpmn_id: str
    name: str
    lane: str | None
    form: str | None
    documentation: str
    data: dict[str, Any]
    properties: dict[str, str]
    stage: str  # the (called) process the step belongs to, e.g. "一书两证"

    @property
    def excluded_steps(self) -> list[str]:
        """Four eyes: earlier steps whose completer may not do this one."""
        return four_eyes_steps(self.properties.get(FOUR_EYES_PROPERTY))


TIMER_EVENTS = frozenset({"TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition"})


class TaskNotReady(Exception):
    """The task does not exist in the workflow, or is not a READY human task."""


class NothingToRetry(Exception):
    """No engine task of the workflow is in error (the failure happened outside any one task)."""


@dataclass(frozen=True)
class WaitingMessage:
    name: str
    element: str
    lane: str | None
    form: str | None = None  # the JSON Schema the message's data must satisfy


class NotOnPath(Exception):
    """The step to send back to is not a completed human step on the path to the current one."""


# Automatic steps (scripts, gateways, events) one request may run: a loop of scripts and gateways
# that never reaches a person would otherwise run for ever inside the request.
MAX_ENGINE_STEPS = 500  # the bundled models take under 150 in any request


class ModelRuntime:
    def __init__(self, spec_json: str, lane_routes: dict[str, str], *, script_timeout: float, script_memory_bytes: int):
        self.spec, self.subprocess_specs = specs_from_json(spec_json)
        self.lane_routes = dict(lane_routes)
        # Most models wait on no timer: their steps need not walk the workflow to find none.
        self.has_timers = any(
            type(definition).__name__ in TIMER_EVENTS
            for spec in (self.spec, *self.subprocess_specs.values())
            for task_spec in spec.task_specs.values()
            for definition in _event_definitions(task_spec)
        )
        cardinalities = frozenset(
            task_spec.cardinality
            for spec in (self.spec, *self.subprocess_specs.values())
            for task_spec in spec.task_specs.values()
            if getattr(task_spec, "cardinality", None)
        )
        self.script_engine = PythonScriptEngine(
            environment=SandboxEnvironment(
                script_timeout=script_timeout, script_memory_bytes=script_memory_bytes, cardinalities=cardinalities
            )
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, data: dict[str, Any]) -> BpmnWorkflow:
        workflow = self.new_workflow(data)
        self.advance(workflow)
        return workflow

    def new_workflow(self, data: dict[str, Any]) -> BpmnWorkflow:
        """A workflow at its start, with ``data``, before any engine step ran (``advance`` runs them)."""
        check_safe_data(data)
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        return workflow

    def load(self, state: str) -> BpmnWorkflow:
        return workflow_from_json(state, self.spec, self.subprocess_specs, self.script_engine)

    @staticmethod
    def dump(workflow: BpmnWorkflow) -> str:
        """The state to save, with old finished history cut away (see compact.py)."""
        compact(workflow)
        return workflow_to_json(workflow)

    def advance(self, workflow: BpmnWorkflow) -> None:
        """Run every engine task that can run (gateways, scripts, due timers)."""
        steps = 0

        def count_step(task: Any) -> None:
            nonlocal steps
            steps += 1
            if steps > MAX_ENGINE_STEPS:
                raise EngineFailure(
                    f"the model ran more than {MAX_ENGINE_STEPS} automatic steps without waiting for anyone "
                    "(an endless loop of scripts and gateways?)",
                    task.task_spec.bpmn_id,
                )

        try:
            workflow.refresh_timers()
            workflow.do_engine_steps(did_complete_task=count_step)
        except EngineFailure:
            raise
        except SpiffWorkflowException as exc:
            raise EngineFailure(_describe(exc), _element_of(exc)) from None
        except (ExpressionError, RecursionError) as exc:
            raise EngineFailure(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - SpiffWorkflow's own bugs (a TypeError, a NameError) are the model's failure too
            raise EngineFailure(f"the engine failed: {type(exc).__name__}: {exc}") from None

    # -- human steps -----------------------------------------------------------------------------

    def ready_steps(self, workflow: BpmnWorkflow) -> list[ReadyStep]:
        steps = []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            extensions = getattr(spec, "extensions", {}) or {}
            steps.append(
                ReadyStep(
                    task_id=str(task.id),
                    bpmn_id=spec.bpmn_id,
                    name=spec.bpmn_name or spec.bpmn_id,
                    lane=spec.lane,
                    form=extensions.get("formJsonSchemaFilename"),
                    documentation=spec.documentation or "",
                    data=dict(task.data),
                    properties=dict(extensions.get("properties") or {}),
                    stage=task.workflow.spec.description or task.workflow.spec.name,
                )
            )
        return steps

    def complete(self, workflow: BpmnWorkflow, task_id: str, data: dict[str, Any]) -> None:
        """Complete a READY human task with ``data`` and advance the workflow.

        SpiffWorkflow's ``task.run()`` runs a task in any state, so the state is checked here.
        """
        check_safe_data(data)
        task = _find(workflow, task_id)
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(task_id)
        task.data.update(data)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise EngineFailure(_describe(exc), _element_of(exc)) from None
        except Exception as exc:  # noqa: BLE001 - as in advance: never a 500 for the model's failure
            raise EngineFailure(f"the engine failed: {type(exc).__name__}: {exc}", task.task_spec.bpmn_id) from None
        self.advance(workflow)

    def send_back(self, workflow: BpmnWorkflow, from_task_id: str, to_task_id: str) -> BpmnWorkflow:
        """Move the token from a READY human task back to an earlier completed one on its path (退回);
        returns the workflow to continue with. The steps in between are dropped from the tree."""
        current, target = _find(workflow, from_task_id), _find(workflow, to_task_id)
        if current is None or current.state != TaskState.READY or not current.task_spec.manual:
            raise TaskNotReady(from_task_id)
        if (
            target is None
            or target.state != TaskState.COMPLETED
            or not target.task_spec.manual
            or not _leads_to(target, current)
        ):
            raise NotOnPath(to_task_id)
        try:
            workflow.reset_from_task_id(target.id)
        except SpiffWorkflowException as exc:
            raise EngineFailure(_describe(exc), _element_of(exc)) from None
        # A reset leaves the dropped branches' timers in the workflow's event list; a save and
        # reload rebuilds it from the tasks that are left.
        workflow = self.load(self.dump(workflow))
        self.advance(workflow)
        return workflow

    @staticmethod
    def send_back_targets(
        workflow: BpmnWorkflow, from_task_id: str, open_task_ids: list[str]
    ) -> list[tuple[str, list[str]]]:
        """Where a READY human task may be sent back to: each completed human step on its path,
        nearest first, with those of ``open_task_ids`` (other open steps, parallel branches) that
        sending back there would cancel, because they descend from it."""
        current = _find(workflow, from_task_id)
        if current is None or current.state != TaskState.READY or not current.task_spec.manual:
            return []
        others = [task for task in (_find(workflow, i) for i in open_task_ids if i != from_task_id) if task is not None]
        targets = []
        for earlier in _path_to(current):
            if earlier.state == TaskState.COMPLETED and earlier.task_spec.manual:
                targets.append((str(earlier.id), [str(task.id) for task in others if _leads_to(earlier, task)]))
        return targets

    def routes(self, lane: str | None) -> bool:
        """Whether the lane picks its agency by a routing expression."""
        return (lane or "") in self.lane_routes

    def route(self, lane: str | None, data: dict[str, Any]) -> str | None:
        """The lane's routing expression evaluated on the task data, or the lane name itself."""
        expression = self.lane_routes.get(lane or "")
        if expression is None:
            return lane
        check_expression(expression)
        try:
            return str(evaluate(expression, data))
        except ExpressionError as exc:
            raise EngineFailure(f"routing of lane {lane!r} failed: {exc}") from None

    @staticmethod
    def is_completed(workflow: BpmnWorkflow) -> bool:
        return bool(workflow.is_completed())

    @staticmethod
    def reached_end(workflow: BpmnWorkflow) -> tuple[str, str] | None:
        """(bpmn id, name) of the top-level end event the finished workflow reached."""
        for task in workflow.tasks.values():  # the top level only, not called processes
            spec = task.task_spec
            if task.state == TaskState.COMPLETED and isinstance(spec, EndEvent):
                return spec.bpmn_id, spec.bpmn_name or spec.bpmn_id
        return None

    @staticmethod
    def waiting_messages(workflow: BpmnWorkflow) -> list[WaitingMessage]:
        """The messages the instance waits for: at a message catch event, a receive task or the
        message start event of an event subprocess, each with its element, its lane (the agency
        whose system may send it) and the form its data must fill, if it names one."""
        return [_waiting(spec, definition, lane) for spec, definition, lane in _message_catchers(workflow)]

    @cached_property
    def message_forms(self) -> dict[str, str]:
        """Message variable -> the form its catcher names, for showing a message's data under the
        form's titles (read once: the runtime does not change)."""
        found = {}
        for spec in (self.spec, *self.subprocess_specs.values()):
            for task_spec in spec.task_specs.values():
                pairs = list(_gateway_events(task_spec)) or [(task_spec, getattr(task_spec, "event_definition", None))]
                for catcher, inner in pairs:
                    variable = getattr(inner, "message_var", None)
                    form = (getattr(catcher, "extensions", None) or {}).get("formJsonSchemaFilename")
                    if isinstance(inner, MessageEventDefinition) and variable and form:
                        found[variable] = form
        return found

    def starting_messages(self) -> list[WaitingMessage]:
        """The messages that start a new instance: the message start events of the top process."""
        return [
            _waiting(start, start.event_definition, start.lane)
            for start in self.spec.bpmn_start_events
            if isinstance(start.event_definition, MessageEventDefinition)
        ]

    def deliver_message(
        self, workflow: BpmnWorkflow, name: str, data: dict[str, Any], correlation: dict[str, Any]
    ) -> int:
        """Deliver message ``name`` with ``data`` to whatever waits for it (then run what follows);
        returns how many catchers took it (0: nothing waited, the workflow is as it was)."""
        check_safe_data(data, "message")
        waiting = [definition for _, definition, _ in _message_catchers(workflow) if definition.name == name]
        if not waiting:
            return 0
        # SpiffWorkflow matches an event by its definition's class and name: the catcher's own. An
        # event subprocess's start is not waiting as a task: the catch itself creates the subprocess.
        event = BpmnEvent(waiting[0], payload=data, correlations=correlation)
        try:
            caught = workflow.event_manager.catch(event, internal=False)
        except SpiffWorkflowException as exc:
            raise EngineFailure(_describe(exc), _element_of(exc)) from None
        if caught:
            self.advance(workflow)
        return int(caught)

    def next_timer_due(self, workflow: BpmnWorkflow) -> datetime | None:
        """When the earliest waiting timer is due (UTC), for the worker's poll; None if none waits."""
        if not self.has_timers:
            return None
        due = []
        for event in workflow.waiting_events():
            value = event.value
            if event.event_type not in TIMER_EVENTS or value is None:
                continue
            if isinstance(value, dict):  # a cycle: its next firing
                value = value.get("next")
            due.extend(_moment(value))
        # An event-based gateway waits on several events at once; SpiffWorkflow reports it as one
        # event with no value, and keeps its earliest timer on the gateway's task instead.
        for task in workflow.get_tasks(state=TaskState.WAITING):
            definitions = getattr(getattr(task.task_spec, "event_definition", None), "event_definitions", None) or []
            if any(type(d).__name__ in TIMER_EVENTS for d in definitions):
                due.extend(_moment(task.internal_data.get("event_value")))
        return min(due) if due else None

    def elements(self) -> list[tuple[str, str]]:
        """(BPMN id, name) of each flow element of the model and of the processes it calls."""
        found = {
            task_spec.bpmn_id: task_spec.bpmn_name or ""
            for spec in (self.spec, *self.subprocess_specs.values())
            for task_spec in spec.task_specs.values()
            if task_spec.bpmn_id
        }
        return sorted(found.items())

    @staticmethod
    def live_elements(workflow: BpmnWorkflow) -> list[tuple[str, str, str]]:
        """(BPMN id, name, state) of each open step, waiting event and failed element."""
        names = {TaskState.READY: "open", TaskState.WAITING: "waiting", TaskState.ERROR: "failed"}
        found = {}
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.ERROR):
            spec = task.task_spec
            if spec.bpmn_id and (task.state != TaskState.READY or spec.manual):
                found[spec.bpmn_id] = (spec.bpmn_id, spec.bpmn_name or "", names[task.state])
        return sorted(found.values())

    @staticmethod
    def failed_elements(workflow: BpmnWorkflow) -> list[str]:
        """The BPMN ids of the engine tasks stopped in error."""
        return sorted({task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.ERROR)})

    def retry(self, workflow: BpmnWorkflow, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the engine tasks that failed again (with ``data`` merged into theirs), then go on.
        Returns their BPMN ids and the values ``data`` replaced. SpiffWorkflow has no public way to
        make a failed task ready again, hence ``_set_state``."""
        failed = workflow.get_tasks(state=TaskState.ERROR)
        if not failed:
            raise NothingToRetry()
        check_safe_data(data or {})
        before = {key: failed[0].data.get(key) for key in (data or {})}
        for task in failed:
            task.data.update(data or {})
            task._set_state(TaskState.READY)
        elements = sorted({task.task_spec.bpmn_id for task in failed})
        self.advance(workflow)
        return {"elements": elements, "data_before": before}

    def recompute_workday_timers(self, workflow: BpmnWorkflow) -> list[tuple[str, str, str]]:
        """Compute again, with the calendar now in force, each waiting timer whose time was counted
        in working days (``workdays_after``), as of the moment it began to wait; returns (BPMN id,
        before, after) of those that moved."""
        moved = []
        for task in workflow.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            expression = getattr(definition, "expression", None) or ""
            before = task.internal_data.get("event_value")
            if type(definition).__name__ != "TimeDateEventDefinition" or "workdays_after" not in expression:
                continue
            token = NOW.set(datetime.fromtimestamp(task.last_state_change, UTC))
            try:
                after = workflow.script_engine.evaluate(task, expression)
            except Exception as exc:  # noqa: BLE001 - the model's own expression failing is its failure
                raise EngineFailure(f"timer {task.task_spec.bpmn_id}: {exc}", task.task_spec.bpmn_id) from None
            finally:
                NOW.reset(token)
            if after != before:
                task.internal_data["event_value"] = after
                moved.append((task.task_spec.bpmn_id, str(before), str(after)))
        return moved

    def fire_timer_now(self, workflow: BpmnWorkflow, bpmn_id: str) -> bool:
        """Fire the waiting timer event ``bpmn_id`` as if its time had come, and go on (model tests
        run in no particular time); False when no such timer waits."""
        fired = False
        for task in workflow.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            if task.task_spec.bpmn_id == bpmn_id and type(definition).__name__ in TIMER_EVENTS:
                task._set_internal_data(event_fired=True)
                fired = True
            for catcher, inner in _gateway_events(task.task_spec):
                if catcher.bpmn_id == bpmn_id and type(inner).__name__ in TIMER_EVENTS:
                    task._set_internal_data(seen_events=[*task.internal_data.get("seen_events", []), BpmnEvent(inner)])
                    fired = True
        if fired:
            self.advance(workflow)
        return fired

    @staticmethod
    def has_passed(workflow: BpmnWorkflow, bpmn_id: str) -> bool:
        """Whether element ``bpmn_id`` has completed in the workflow (a timer whose time had come)."""
        return any(task.task_spec.bpmn_id == bpmn_id for task in workflow.get_tasks(state=TaskState.COMPLETED))

    def fire_due_timers(self, workflow: BpmnWorkflow) -> list[str]:
        """Fire every timer that is due now; returns the BPMN ids of the timer events that fired."""
        waiting = workflow.get_tasks(state=TaskState.WAITING)
        self.advance(workflow)
        return sorted({task.task_spec.bpmn_id for task in waiting if task.state != TaskState.WAITING})


def _moment(value: Any) -> list[datetime]:
    """A timer's due time from SpiffWorkflow's ISO text, as a list of none or one."""
    try:
        return [TimerEventDefinition.get_datetime(value)] if isinstance(value, str) else []
    except ValueError:
        return []


def _find(workflow: BpmnWorkflow, task_id: str) -> Any:
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except (ValueError, SpiffWorkflowException):
        return None


def _path_to(later: Any) -> Iterator[Any]:
    """The ancestors of ``later``, nearest first, following called processes up to the call
    activity that started them (a step in another branch is not on the path)."""
    task = later.parent
    while task is not None:
        yield task
        if task.parent is None and task.workflow.parent_task_id is not None:
            task = task.workflow.top_workflow.get_task_from_id(task.workflow.parent_task_id)
        else:
            task = task.parent


def _leads_to(earlier: Any, later: Any) -> bool:
    """Whether ``earlier`` is on the path to ``later``."""
    return any(task is earlier for task in _path_to(later))


def _element_of(exc: Exception) -> str | None:
    spec = getattr(exc, "task_spec", None)
    return getattr(spec, "bpmn_id", None)


def _describe(exc: Exception) -> str:
    notes = getattr(exc, "notes", None) or []
    cause = exc.__cause__ or exc.__context__  # what SpiffWorkflow wrapped: the model's own error
    said = [str(exc), *notes]
    if cause is not None and str(cause) not in " ".join(said):
        said.insert(1, f"({cause})")
    return " ".join(said).strip()


def use_calendar(calendar: Any) -> None:
    """Count working days in expressions (workdays_after) with this calendar, in this context."""
    CALENDAR.set(calendar)


_CACHE: dict[tuple[str, float, int], ModelRuntime] = {}
_CACHE_LOCK = threading.Lock()


def runtime_for(
    checksum: str,
    load_spec_json: Callable[[], str],
    lane_routes: dict[str, str],
    *,
    script_timeout: float,
    script_memory_bytes: int,
) -> ModelRuntime:
    """The cached runtime of a published definition, keyed by its content checksum.

    A published version never changes, so its parsed spec can live as long as the process;
    keying by content rather than row id stays right when a database is rebuilt."""
    key = (checksum, script_timeout, script_memory_bytes)
    runtime = _CACHE.get(key)
    if runtime is None:
        runtime = ModelRuntime(
            load_spec_json(), lane_routes, script_timeout=script_timeout, script_memory_bytes=script_memory_bytes
        )
        with _CACHE_LOCK:
            runtime = _CACHE.setdefault(key, runtime)
    return runtime


def _event_definitions(task_spec: Any) -> list[Any]:
    """The event definitions of a task spec: its own and, for a multiple event or an event-based
    gateway, each one it holds."""
    definition = getattr(task_spec, "event_definition", None)
    return [definition, *(getattr(definition, "event_definitions", None) or [])] if definition is not None else []


def _gateway_events(spec: Any) -> Iterator[tuple[Any, Any]]:
    """(catch event spec, its event definition) of an event-based gateway: SpiffWorkflow moves each
    event's definition onto the gateway, in the order of its outgoing events."""
    if isinstance(spec, EventBasedGateway):
        yield from zip(spec.outputs, spec.event_definition.event_definitions, strict=False)


def _waiting(spec: Any, definition: MessageEventDefinition, lane: str | None) -> WaitingMessage:
    form = (getattr(spec, "extensions", None) or {}).get("formJsonSchemaFilename")
    return WaitingMessage(definition.name, spec.bpmn_id, lane, form)


def _message_catchers(workflow: BpmnWorkflow) -> Iterator[tuple[Any, MessageEventDefinition, str | None]]:
    """(spec, message definition, lane) of each place that would take a message now."""
    for task in list(workflow.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state != TaskState.WAITING:
            continue
        if isinstance(definition, MessageEventDefinition):
            yield task.task_spec, definition, task.task_spec.lane
        for catcher, inner in _gateway_events(task.task_spec):
            if isinstance(inner, MessageEventDefinition):
                yield catcher, inner, catcher.lane
    # Event subprocesses of the top process wait as triggers of its start, not as tasks.
    for name in getattr(workflow.spec.start, "trigger_specs", []):
        outer = workflow.spec.task_specs.get(name)
        for start in workflow.subprocess_specs[name].bpmn_start_events:
            if isinstance(start.event_definition, MessageEventDefinition):
                yield start, start.event_definition, start.lane or getattr(outer, "lane", None)

"""Marshmallow schemas of the REST API: request bodies and query strings in, documents out."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, pre_dump, pre_load, validate
from sqlalchemy.orm import object_session

from ..engine.data import unstorable_text
from ..models import (
    DeliveryStatus,
    IncidentStatus,
    InstanceStatus,
    NotificationKind,
    Role,
    Task,
    TaskKind,
    TaskState,
    utcnow,
)
from ..services import substitutes
from ..services.calendar_years import calendar_of
from ..services.deadlines import workdays_so_far
from ..services.projects import CODE, FUNDING_LEVELS
from ..services.tasks import INBOX_SORTS, TASK_FILTER_STATES
from ..workdays import local_date

# Decimals travel as strings ("348000.00"), so no rounding happens on the way; say so in the document.
DECIMAL = {"type": "string", "format": "decimal"}


def _not_negative(value) -> None:
    if value < 0:
        raise ValidationError("must not be negative")


class StrictSchema(Schema):
    """Unknown fields in a request are an error naming them, never silently dropped; text must be
    text a database can store (no NUL, no unpaired surrogates), else the field is named."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _storable_text(self, data, **_kwargs):
        where = unstorable_text(data)
        if where is not None:
            raise ValidationError({where or "_schema": ["text must not contain NUL characters or unpaired surrogates"]})
        return data


# -- requests -------------------------------------------------------------------------------------


class TokenRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class ProjectRequest(StrictSchema):
    code = fields.String(
        required=True,
        validate=validate.Regexp(CODE, error="1-64 letters, digits, '.', '_' or '-'"),
        metadata={"description": "the project code (business key)"},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=300))
    owner_unit = fields.String(load_default="", validate=validate.Length(max=200))
    funding_level = fields.String(load_default="municipal", validate=validate.OneOf(FUNDING_LEVELS))
    # Validated by a function, not Range: apispec would document a Range on a string-typed decimal
    # as a string "minimum", which is not valid OpenAPI.
    investment = fields.Decimal(
        load_default=None,
        allow_none=True,
        as_string=True,
        allow_nan=False,
        validate=_not_negative,
        metadata={**DECIMAL, "description": "万元, not negative"},
    )


class StartRequest(StrictSchema):
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    data = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "initial process data"})


class CompleteRequest(StrictSchema):
    data = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "the form data, validated against the step's JSON Schema"},
    )
    opinion = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=8000),
        metadata={"description": "the written opinion (审查意见); required when the outcome returns or refuses"},
    )


class CommentRequest(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class AssignRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CancelledStep(Schema):
    id = fields.Integer()
    bpmn_id = fields.String()
    name = fields.String()
    agency = fields.String(attribute="agency_code")


class SendBackTarget(Schema):
    bpmn_id = fields.String()
    name = fields.String()
    agency = fields.String(attribute="agency_code")
    cancels = fields.List(
        fields.Nested(CancelledStep), metadata={"description": "other open steps sending back here cancels"}
    )


class SendBackRequest(StrictSchema):
    to_bpmn_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "the BPMN id of an earlier completed step on the path to this one"},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=8000),
        metadata={"description": "why it goes back (退回理由); kept in the history"},
    )


class SubstitutionRequest(StrictSchema):
    user = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the absent user (default: you; leads and admins may name one for others)"},
    )
    substitute = fields.String(required=True, validate=validate.Length(min=1, max=64))
    starts_on = fields.Date(required=True, metadata={"description": "first day of absence (Shenzhen date)"})
    ends_on = fields.Date(required=True, metadata={"description": "last day of absence, inclusive"})


class SubstitutionQuery(StrictSchema):
    user = fields.String(load_default=None, validate=validate.Length(min=1, max=64))


class TerminateRequest(StrictSchema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class PageQuery(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class InboxArgs(PageQuery):
    agency = fields.String(
        validate=validate.Length(min=1, max=32), metadata={"description": "agency code; defaults to your own"}
    )
    assignee = fields.String(validate=validate.OneOf(["me"]), metadata={"description": "'me': only yours"})
    state = fields.String(
        load_default="active",
        validate=validate.OneOf(TASK_FILTER_STATES),
        metadata={"description": "active = open or claimed"},
    )
    project = fields.String(validate=validate.Length(min=1, max=64))
    process = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "a process key: the model's own steps and those of the process wherever it is called"},
    )
    overdue = fields.Boolean()
    q = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "search: part of a project's code or name, a step's name or a document number (文号)"},
    )
    sort = fields.String(
        load_default="due",
        validate=validate.OneOf(INBOX_SORTS),
        metadata={"description": "due: soonest due first; arrival: newest first; project: by project code"},
    )


class DiffQuery(StrictSchema):
    against = fields.Integer(
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "the version to compare with (default: the one before)"},
    )


class RetryRequest(StrictSchema):
    data = fields.Dict(
        keys=fields.String(),
        load_default=None,
        allow_none=True,
        metadata={"description": "values to merge into the failed element's data before it runs again"},
    )


class ModifyRequest(StrictSchema):
    reason = fields.String(
        required=True, validate=validate.Length(min=1, max=2000), metadata={"description": "why; kept in the history"}
    )
    cancel = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "BPMN ids of open steps, waiting events or failed elements to cancel"},
    )
    start_before = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        load_default=list,
        validate=validate.Length(max=50),
        metadata={
            "description": "BPMN ids to start before: an element done earlier on a live step's path (the instance "
            "goes back there), or one of the process of a step listed in `cancel` (it goes forward from there)"
        },
    )
    data = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "values to merge into the live steps' data, checked against the model's forms"},
    )


class MigrationRequest(StrictSchema):
    from_version = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    to_version = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    instance_ids = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=2**63 - 1)),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "the instances to move (default: every live instance of from_version)"},
    )
    dry_run = fields.Boolean(load_default=False, metadata={"description": "say what would move, move nothing"})
    reason = fields.String(
        load_default="", validate=validate.Length(max=2000), metadata={"description": "kept in the history"}
    )


class BlockedInstance(Schema):
    instance_id = fields.Integer()
    reasons = fields.List(fields.String(), metadata={"description": "each names the element in the way"})


class MigrationReport(Schema):
    migratable = fields.List(fields.Integer(), metadata={"description": "instances that can move (or moved)"})
    blocked = fields.List(fields.Nested(BlockedInstance), metadata={"description": "left untouched, and why"})
    migrated = fields.List(fields.Integer(), metadata={"description": "moved, each in its own transaction"})


class IncidentQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(tuple(IncidentStatus)))
    process = fields.String(validate=validate.Length(min=1, max=128), metadata={"description": "a process key"})
    project = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "a project code"})


class CalendarYearRequest(StrictSchema):
    source = fields.String(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "the notice the arrangement comes from"},
    )
    rest_days = fields.List(
        fields.String(),
        load_default=list,
        metadata={"description": "weekdays off: 'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD'"},
    )
    work_days = fields.List(
        fields.String(), load_default=list, metadata={"description": "weekend days worked in lieu (调休)"}
    )


# -- responses: each schema dumps the ORM object (or service result) itself -----------------------


class Username(fields.String):
    """A user (a relationship of the object dumped), shown by user name; null when there is none."""

    def __init__(self, **kwargs: Any):
        super().__init__(allow_none=True, dump_only=True, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value.username)


class _Derived:
    """A value computed from the object dumped by ``getter`` (typed in the OpenAPI document by the
    field class it is mixed into)."""

    def __init__(self, getter: Any, **kwargs: Any):
        super().__init__(dump_only=True, **kwargs)  # type: ignore[call-arg]
        self.getter = getter

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = None) -> Any:
        return self.getter(obj)


class DerivedBoolean(_Derived, fields.Boolean):
    pass


class DerivedInteger(_Derived, fields.Integer):
    pass


class DerivedString(_Derived, fields.String):
    pass


class Along:
    """An object to dump with values that are not its attributes (an instance and its open steps)."""

    def __init__(self, obj: Any, **extras: Any):
        self.obj = obj
        self.extras = extras


class AlongSchema(Schema):
    """Dumps ``Along(obj, name=value…)``: the object's fields, and each extra by the field of its name."""

    @pre_dump
    def _object(self, along: Along, **_kwargs: Any) -> Any:
        return along.obj

    @post_dump(pass_original=True)
    def _extras(self, data: dict[str, Any], along: Along, **_kwargs: Any) -> dict[str, Any]:
        for name in along.extras:
            data[name] = self.fields[name].serialize(name, along.extras)
        return data


def _counted_so_far(task: Task) -> int | None:
    """Counted working days: stored when a step finishes, counted until now while it is open."""
    session = object_session(task)
    assert session is not None  # noqa: S101 - dumped while the request's session is open
    return workdays_so_far(calendar_of(session), task, utcnow())  # the calendar is read once per transaction


def _elapsed_days(task: Task) -> int:
    return (local_date(task.completed_at or utcnow()) - local_date(task.created_at)).days


class TokenResponse(Schema):
    token = fields.String()
    expires_at = fields.DateTime()
    username = fields.String()
    agency = fields.String()
    role = fields.String(validate=validate.OneOf(tuple(Role)))


class AgencySchema(Schema):
    code = fields.String()
    name_zh = fields.String()
    name_en = fields.String()
    aliases = fields.List(fields.String())


class DefinitionSchema(Schema):
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    versions = fields.Integer(metadata={"description": "how many versions the key has"})
    published_at = fields.DateTime()
    published_by = fields.String(allow_none=True)
    checksum = fields.String()


class VersionSchema(Schema):
    """One published version (dumps a ``ProcessDefinition``)."""

    key = fields.String()
    version = fields.Integer()
    kind = fields.String(metadata={"description": "bpmn or dmn"})
    name = fields.String()
    published_at = fields.DateTime()
    published_by = Username()
    checksum = fields.String()
    change_note = fields.String(metadata={"description": "what changed and why, as the publisher said"})


class PublishResponse(Schema):
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    created = fields.Boolean(metadata={"description": "false when the upload equals the latest version"})


class TaskSchema(Schema):
    """A work item (dumps a ``Task``)."""

    id = fields.Integer()
    kind = fields.String(
        validate=validate.OneOf(tuple(TaskKind)),
        metadata={"description": "a step of the process, or a reminder to a lead about an overdue step"},
    )
    reminder_for = fields.Integer(
        attribute="reminder_for_id", allow_none=True, metadata={"description": "the overdue step a reminder is about"}
    )
    escalated_at = fields.DateTime(allow_none=True, metadata={"description": "when an overdue step was escalated"})
    bpmn_id = fields.String()
    name = fields.String()
    stage = fields.String(metadata={"description": "the (called) process the step belongs to"})
    agency = fields.String(attribute="agency_code")
    assignee = Username()
    state = fields.String(validate=validate.OneOf(tuple(TaskState)))
    created_at = fields.DateTime()
    claimed_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    overdue = DerivedBoolean(lambda task: task.overdue_at(utcnow()))
    counted_workdays = DerivedInteger(
        _counted_so_far,
        allow_none=True,
        metadata={"description": "working days with the agency so far (start day not counted)"},
    )
    limit_workdays = fields.Integer(allow_none=True)
    time_limit = fields.String(allow_none=True, metadata={"description": "the step's limit: '20WD' or '7CD'"})
    statutory = fields.Boolean(metadata={"description": "counts toward the agency's statutory clock"})
    elapsed_days = DerivedInteger(
        _elapsed_days, metadata={"description": "calendar days since the step opened (or until done)"}
    )
    due_provisional = fields.Boolean(
        metadata={"description": "the due date was counted into a year without an official holiday arrangement"}
    )
    completed_at = fields.DateTime(allow_none=True)
    completed_by = Username()
    on_behalf_of = Username(
        metadata={"description": "whom the step was done for, when a substitute or delegate did it (A for B)"}
    )
    delegated_by = Username(metadata={"description": "the holder who delegated this claimed step to its assignee"})
    outcome = fields.String(
        allow_none=True,
        metadata={"description": "the decision given; `sent_back` when the holder sent the instance back (退回)"},
    )
    opinion = fields.String(allow_none=True, metadata={"description": "the written opinion given on completion"})
    form = fields.String(allow_none=True)
    instance_id = fields.Integer()
    project = fields.String(attribute="instance.project.code")
    process_key = fields.String(attribute="instance.definition.key")
    process_version = fields.Integer(attribute="instance.definition.version")


class MaterialSchema(Schema):
    """A file attached to a step (dumps a ``Material``)."""

    id = fields.Integer()
    name = fields.String()
    size = fields.Integer(metadata={"description": "bytes"})
    sha256 = fields.String()
    content_type = fields.String(metadata={"description": "detected from the content"})
    kind = fields.String(metadata={"description": "pdf, jpg, png, tif, doc, docx, xls, xlsx, ppt, pptx, dwg, dxf, zip"})
    field = fields.String(allow_none=True, metadata={"description": "the form field it was attached for"})
    document_number = fields.String(allow_none=True, metadata={"description": "文号 of a document the step issued"})
    instance_id = fields.Integer()
    task_id = fields.Integer()
    step = fields.String(attribute="task.name", metadata={"description": "the name of the step it was attached to"})
    uploaded_by = Username()
    uploaded_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    url = DerivedString(
        lambda material: f"/api/materials/{material.id}", metadata={"description": "where to download it"}
    )


class TaskDetailSchema(AlongSchema, TaskSchema):
    """A step with what its page shows: dumps ``Along(task, form_schema=…, materials=…)``."""

    documentation = fields.String()
    materials = fields.List(
        fields.Nested(MaterialSchema),
        metadata={"description": "the instance's materials so far, this step's and earlier steps'"},
    )
    form_schema = fields.Dict(allow_none=True, metadata={"description": "the step's JSON Schema"})
    data = fields.Dict(attribute="input_data", metadata={"description": "the process data the step was given"})
    submitted_data = fields.Dict(allow_none=True)


class TaskPage(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class ErrorDetail(Schema):
    """Why an instance in error stopped (dumps the ``ProcessInstance``)."""

    message = fields.String(attribute="error_message")
    element = fields.String(attribute="error_element", allow_none=True)


class ErrorOf(fields.Nested):
    """An instance's error, only while it is in error (null otherwise)."""

    def __init__(self, **kwargs: Any):
        super().__init__(ErrorDetail, dump_only=True, **kwargs)

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = None) -> Any:
        return obj if obj.status == InstanceStatus.ERROR else None


class InstanceSchema(AlongSchema):
    """A process instance: dumps ``Along(instance, open_tasks=…)``."""

    id = fields.Integer()
    project = fields.String(attribute="project.code")
    process_key = fields.String(attribute="definition.key")
    version = fields.Integer(attribute="definition.version")
    status = fields.String(validate=validate.OneOf(tuple(InstanceStatus)))
    result = fields.String(allow_none=True, metadata={"description": "the end event a completed instance reached"})
    started_at = fields.DateTime()
    updated_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    error = ErrorOf(allow_none=True)
    open_tasks = fields.List(fields.Nested(TaskSchema))


class CompleteResponse(AlongSchema):
    """After a step was completed or sent back: dumps ``Along(instance, open_tasks=…)``."""

    instance_id = fields.Integer(attribute="id")
    status = fields.String(validate=validate.OneOf(tuple(InstanceStatus)))
    open_tasks = fields.List(fields.Nested(TaskSchema))


class EventSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    created_at = fields.DateTime()
    actor = fields.String(attribute="actor_name")
    task_id = fields.Integer(allow_none=True)
    payload = fields.Dict(
        metadata={
            "description": "what happened; keys the caller may not read (a step's data, opinion and reason "
            "for those who may not read the step; file hashes, start data and comments for agencies taking no "
            "part in the instance) are left out and listed under `redacted`"
        }
    )


class ProjectSchema(Schema):
    code = fields.String()
    name = fields.String()
    owner_unit = fields.String()
    funding_level = fields.String()
    investment = fields.Decimal(as_string=True, allow_none=True, metadata={**DECIMAL, "description": "万元"})
    created_at = fields.DateTime()
    stage = fields.List(
        fields.String(),
        metadata={
            "description": "where it stands: the processes (called ones included) its open steps are in, "
            "or the running processes when no step is open"
        },
    )
    agencies = fields.List(fields.String(), metadata={"description": "the agencies holding its open steps"})
    open_tasks = fields.Integer(metadata={"description": "open steps (reminders to leads not counted)"})
    overdue_tasks = fields.Integer()
    next_due_at = fields.DateTime(allow_none=True, metadata={"description": "the soonest due date of its open steps"})


class ProjectPage(Schema):
    items = fields.List(fields.Nested(ProjectSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class AgencyClockSchema(Schema):
    agency = fields.String()
    counted_workdays = fields.Integer(metadata={"description": "working days the agency's statutory steps ran"})
    limit_workdays = fields.Integer(allow_none=True, metadata={"description": "sum of those steps' limits"})
    overdue = fields.Boolean()
    statutory = fields.Boolean(
        metadata={"description": "false: none of the agency's steps has a statutory limit; the days it held them"}
    )


class LegSchema(Schema):
    stage = fields.String(metadata={"description": "a stage of the lifecycle (a process, or a called one)"})
    counted_workdays = fields.Integer(metadata={"description": "working days its agencies' statutory steps ran"})
    counts = fields.Boolean(metadata={"description": "whether it counts toward the commitment (tendering does not)"})


class CommitmentSchema(Schema):
    """The project against Shenzhen's 85-working-day commitment (dumps ``services.status.Commitment``)."""

    counted_workdays = fields.Integer(metadata={"description": "the legs that count, parallel steps once"})
    commitment_workdays = fields.Integer()
    legs = fields.List(fields.Nested(LegSchema))
    waiting_on_applicant_workdays = fields.Integer(
        metadata={"description": "working days on which the applicant's own steps (HQ) were open: not counted"}
    )
    rule = fields.String(metadata={"description": "what counts, in words"})


class StatusProject(ProjectSchema):
    counted_workdays = fields.Integer(
        metadata={"description": "working days on which any agency's statutory step ran (parallel steps once)"}
    )
    commitment_workdays = fields.Integer(metadata={"description": "Shenzhen's commitment: 85 working days"})
    within_commitment = fields.Boolean()


class StatusInstance(Schema):
    """One instance of a project (dumps ``services.status.InstanceProgress``)."""

    id = fields.Integer(attribute="instance.id")
    process_key = fields.String(attribute="instance.definition.key")
    process_name = fields.String(attribute="instance.definition.name")
    version = fields.Integer(attribute="instance.definition.version")
    status = fields.String(attribute="instance.status", validate=validate.OneOf(tuple(InstanceStatus)))
    result = fields.String(
        attribute="instance.result",
        allow_none=True,
        metadata={"description": "the end event a completed instance reached"},
    )
    started_at = fields.DateTime(attribute="instance.started_at")
    ended_at = fields.DateTime(attribute="instance.ended_at", allow_none=True)
    stages = fields.List(fields.String(), metadata={"description": "the (called) processes with open steps"})
    open_tasks = fields.List(fields.Nested(TaskSchema))
    completed_tasks = fields.List(fields.Nested(TaskSchema))
    agencies = fields.List(fields.Nested(AgencyClockSchema))


class StatusSchema(Schema):
    """Where a project stands (dumps ``services.status.ProjectStatus``)."""

    project = fields.Nested(StatusProject, attribute="overview")
    commitment = fields.Nested(CommitmentSchema)
    instances = fields.List(fields.Nested(StatusInstance))

    @post_dump(pass_original=True)
    def _leave_out_unreadable_answers(self, data: dict[str, Any], found: Any, **_kwargs: Any) -> dict[str, Any]:
        """A step's written opinion follows the step's read rule (its agency, assignee, read-all roles)."""
        for instance in data["instances"]:
            for task in (*instance["open_tasks"], *instance["completed_tasks"]):
                if task["id"] in found.unreadable:
                    task["opinion"] = None
        return data


class CalendarYearSchema(Schema):
    year = fields.Integer()
    official = fields.Boolean(metadata={"description": "false: due dates into this year are provisional"})
    source = fields.String()
    loaded = fields.Boolean(metadata={"description": "an admin loaded this year's arrangement"})
    rest_days = fields.List(fields.Date())
    work_days = fields.List(fields.Date())
    moved = fields.List(
        fields.Nested(lambda: DueMovedSchema()),
        metadata={"description": "after loading: the open steps whose due date the year changed"},
    )


class DueMovedSchema(Schema):
    task_id = fields.Integer(allow_none=True, metadata={"description": "null for an engine timer"})
    instance_id = fields.Integer()
    project = fields.String()
    step = fields.String(metadata={"description": "the step, or the timer event, that moved"})
    name = fields.String()
    agency = fields.String()
    before = fields.String(metadata={"format": "date", "description": "the Shenzhen date it was due"})
    after = fields.String(metadata={"format": "date", "description": "the Shenzhen date it is due now"})
    was_provisional = fields.Boolean()
    provisional = fields.Boolean(metadata={"description": "still counted on plain weekdays somewhere"})


class SubstitutionSchema(Schema):
    """Who acts for whom, and when (dumps a ``Substitution``)."""

    id = fields.Integer()
    user = Username()
    substitute = Username()
    starts_on = fields.Date()
    ends_on = fields.Date()
    active = DerivedBoolean(
        lambda row: row.in_force_on(substitutes.today()), metadata={"description": "in force today"}
    )
    revoked_at = fields.DateTime(allow_none=True)


class IncidentSchema(Schema):
    """An engine failure that stopped an instance (dumps an ``Incident``)."""

    id = fields.Integer()
    instance_id = fields.Integer()
    project = fields.String(attribute="instance.project.code")
    process_key = fields.String(attribute="instance.definition.key")
    version = fields.Integer(attribute="instance.definition.version")
    element = fields.String(allow_none=True, metadata={"description": "the BPMN id that failed, when known"})
    kind = fields.String(metadata={"description": "what was running: engine (a step's work) or timer"})
    message = fields.String()
    attempts = fields.Integer(metadata={"description": "how often the element failed"})
    status = fields.String(validate=validate.OneOf(tuple(IncidentStatus)))
    opened_at = fields.DateTime()
    updated_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class ElementChange(Schema):
    process = fields.String(metadata={"description": "the process it is in: the model's own, or a called one"})
    bpmn_id = fields.String()
    name = fields.String()
    what = fields.List(
        fields.String(), metadata={"description": "the attributes that changed (empty when added or removed)"}
    )


class FormChanges(Schema):
    added = fields.List(fields.String())
    removed = fields.List(fields.String())
    changed = fields.List(fields.String())


class TestFailure(Schema):
    step = fields.String(allow_none=True, metadata={"description": "the step (or timer) at fault, if any"})
    message = fields.String()


class TestResultSchema(Schema):
    """One model test case, run."""

    name = fields.String()
    passed = fields.Boolean()
    failures = fields.List(fields.Nested(TestFailure))
    path = fields.List(fields.String(), metadata={"description": "the steps done and timers fired, in order"})


class PreviewSchema(Schema):
    """What publishing an upload would do."""

    key = fields.String()
    name = fields.String()
    current_version = fields.Integer(allow_none=True, metadata={"description": "the latest version, if any"})
    unchanged = fields.Boolean(metadata={"description": "true: publishing would store nothing"})
    elements = fields.Nested(
        lambda: DiffSchema(), allow_none=True, metadata={"description": "against the latest version (process models)"}
    )
    forms = fields.Nested(FormChanges)
    tests = fields.List(fields.Nested(TestResultSchema), metadata={"description": "the model's test cases, run"})


class DiffSchema(Schema):
    """A version against another: elements added, removed and changed, in the model's own process
    and in the called processes each version froze."""

    added = fields.List(fields.Nested(ElementChange))
    removed = fields.List(fields.Nested(ElementChange))
    changed = fields.List(fields.Nested(ElementChange))


class WebhookRequest(StrictSchema):
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "http(s) URL on a host APPROVALS_WEBHOOK_HOSTS allows"},
    )
    events = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "event types, e.g. task.completed; * for all"},
    )
    secret = fields.String(
        validate=validate.Length(min=16, max=200),
        load_only=True,
        metadata={"description": "signs each delivery (HMAC-SHA256); generated when not given"},
    )
    agency = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "receive payloads as this agency may see them (default: everything)"},
    )


class WebhookSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    agency = fields.String(attribute="agency_code", allow_none=True)
    created_at = fields.DateTime()


class CreatedWebhookSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "shown once, when the webhook is created"})


class DeliveryQuery(StrictSchema):
    status = fields.String(validate=validate.OneOf(tuple(DeliveryStatus)))


class DeliverySchema(Schema):
    delivery_id = fields.String(metadata={"description": "X-Approvals-Delivery: the same on every retry"})
    event_id = fields.Integer()
    event = fields.String(attribute="event.type")
    instance_id = fields.Integer(allow_none=True)
    status = fields.String(validate=validate.OneOf(tuple(DeliveryStatus)))
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_status = fields.Integer(allow_none=True, metadata={"description": "the receiver's last HTTP status"})
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


class NotificationSettings(StrictSchema):
    email = fields.String(
        allow_none=True, validate=validate.Length(max=254), metadata={"description": "where the mails go; null: none"}
    )
    kinds = fields.List(
        fields.String(validate=validate.OneOf(tuple(NotificationKind))),
        required=True,
        metadata={
            "description": "the notices wanted: arrived (a digest), due_soon, overdue, sent_back, assigned, "
            "substitute, decided"
        },
    )


class MessageRequest(StrictSchema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=128), metadata={"description": "the BPMN message's name"}
    )
    project_code = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "deliver to the live instance of this project that waits for the message"},
    )
    instance_id = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1), metadata={"description": "or to this instance"}
    )
    correlation = fields.Dict(
        keys=fields.String(), load_default=dict, metadata={"description": "correlation keys, as the model defines them"}
    )
    data = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={
            "description": "the message's data (kept in the catcher's messageVariable; checked against the form the "
            "catcher names, if any)"
        },
    )


class ServiceTokenRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    days = fields.Integer(load_default=365, validate=validate.Range(min=1, max=3650))

"""The persistent model. Alembic migrations (``migrations/``) are the only way the schema changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ColumnClause,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    false,
    literal_column,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use UTC-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# -- the vocabulary: every stored state, kind and role, named once ---------------------------------


class InstanceStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    ERROR = "error"


# Live: not ended; such an instance still belongs to its project's current stage.
LIVE_STATUSES = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED, InstanceStatus.ERROR)
ENDED_STATUSES = (InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)


class TaskState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN_STATES = (TaskState.OPEN, TaskState.CLAIMED)  # a work item someone still has to do


class TaskKind(StrEnum):
    STEP = "step"  # a human task of the model
    REMINDER = "reminder"  # an overdue step escalated to its agency's lead


class Outcome(StrEnum):
    """Outcomes the service itself gives or reads. Forms name their own outcomes besides these
    (``approve``, ``accept``…), so the column is not limited to them."""

    SENT_BACK = "sent_back"  # the holder sent the instance back (退回) from this step
    RETURN = "return"
    CORRECT = "correct"
    REFUSE = "refuse"
    REJECT = "reject"
    REVISE = "revise"
    DISAGREE = "disagree"


# Outcomes that send a file back or turn it down: these need a written opinion (审查意见).
NEGATIVE_OUTCOMES = frozenset(
    {Outcome.RETURN, Outcome.CORRECT, Outcome.REFUSE, Outcome.REJECT, Outcome.REVISE, Outcome.DISAGREE}
)


class Role(StrEnum):
    STAFF = "staff"  # works on the steps of their agency
    LEAD = "lead"  # also assigns them, and is reminded of overdue ones
    OWNER = "owner"  # edits and publishes process models
    ADMIN = "admin"
    OBSERVER = "observer"  # reads status


class IncidentStatus(StrEnum):
    OPEN = "open"  # the instance waits for an owner or admin
    RESOLVED = "resolved"


class TokenScope(StrEnum):
    API = "api"  # a bearer token for the API
    WEB = "web"  # the token a page session keeps; the API refuses it, so a leaked cookie is no API key
    MESSAGES = "messages"  # a service account's: it may only deliver messages (POST /api/messages)


class NotificationKind(StrEnum):
    ARRIVED = "arrived"  # steps arrived in my agency's queue (one digest)
    DUE_SOON = "due_soon"  # a step I hold is due within a few working days
    OVERDUE = "overdue"  # a step I hold is past its due date
    SENT_BACK = "sent_back"  # a step I did came back to my agency
    ASSIGNED = "assigned"  # a step was assigned or delegated to me
    SUBSTITUTE = "substitute"  # I was named someone's substitute
    DECIDED = "decided"  # a process I worked on came to its decision


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent (again) at next_attempt_at
    DELIVERED = "delivered"  # the receiver answered 2xx
    DEAD = "dead"  # given up after the last attempt; an admin may replay it


WORK_ROLES = (Role.STAFF, Role.LEAD)
READ_ALL_ROLES = (Role.ADMIN, Role.OBSERVER, Role.OWNER)


def one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    """The database refuses a value the vocabulary does not have (named ck_<table>_<column>)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Agency(Base):
    __tablename__ = "agency"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (one_of("role", Role),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    agency_code: Mapped[str] = mapped_column(ForeignKey("agency.code"))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    email: Mapped[str | None] = mapped_column(String(254))
    # The notifications the user wants (NotificationKind values); None: all of them.
    notify: Mapped[list[str] | None] = mapped_column(JSON)

    agency: Mapped[Agency] = relationship()


class ApiToken(Base):
    __tablename__ = "api_token"
    __table_args__ = (one_of("scope", TokenScope),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8), default=TokenScope.API, server_default=TokenScope.API.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class ProcessDefinition(Base):
    """One published, immutable version of a process model."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definition_key_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(8), default="bpmn", server_default="bpmn")  # "bpmn" or "dmn"
    name: Mapped[str] = mapped_column(String(300))
    # Large columns are deferred: lists and inboxes never load them.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)  # the BPMN (or DMN) XML as published
    forms: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)  # filename -> JSON Schema
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)  # SpiffWorkflow spec, once per version
    lane_routes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of the BPMN, forms and frozen callees
    change_note: Mapped[str] = mapped_column(Text, default="", server_default="")  # the publisher's "what and why"
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]", deferred=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    published_by: Mapped[User | None] = relationship()


class Project(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    owner_unit: Mapped[str] = mapped_column(String(200), default="")
    funding_level: Mapped[str] = mapped_column(String(16), default="municipal")
    investment: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))  # 万元
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    instances: Mapped[list[ProcessInstance]] = relationship(back_populates="project", order_by="ProcessInstance.id")


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (one_of("status", InstanceStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(Text, deferred=True)  # serialized workflow, without the spec
    state_format: Mapped[str] = mapped_column(String(64))
    lock_version: Mapped[int] = mapped_column(default=1)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    result: Mapped[str | None] = mapped_column(String(300))  # the end event reached, e.g. "可研已批复"
    error_message: Mapped[str | None] = mapped_column(Text)
    error_element: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project: Mapped[Project] = relationship(back_populates="instances")
    definition: Mapped[ProcessDefinition] = relationship()
    tasks: Mapped[list[Task]] = relationship(back_populates="instance", order_by="Task.id")

    # Optimistic check under the row lock: an UPDATE that finds another version fails loudly.
    __mapper_args__ = {"version_id_col": lock_version}


# Open items and steps sent back (退回) as SQL text: a query that names the states or the outcome in
# its text, not as bound parameters, is served by the partial indexes on those rows (ix_task_open,
# ix_task_sent_back): a parameter's value cannot be matched against an index's condition when the
# statement is planned. An instance's open items, and whether it was ever sent back, are asked on
# every change: through these, a few rows are read, never the instance's whole history.
OPEN: tuple[ColumnClause[str], ...] = tuple(literal_column(f"'{state}'", String) for state in OPEN_STATES)
OPEN_ROWS = f"state IN ({', '.join(repr(str(state)) for state in OPEN_STATES)})"
SENT_BACK_ROWS = f"outcome = '{Outcome.SENT_BACK}'"
SENT_BACK: ColumnClause[str] = literal_column(f"'{Outcome.SENT_BACK}'", String)


class Task(Base):
    """A work item: one row per human step, open or finished. Inbox and status read only these."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_agency_state", "agency_code", "state"),
        Index("ix_task_assignee_state", "assignee_id", "state"),
        # An instance's items by state, and the runs of one of its steps, latest first (the four-eyes
        # rule, a send back's target, a step's previous run, its clock after a send back): a few
        # rows, not the instance's whole history.
        Index("ix_task_instance_state", "instance_id", "state", "bpmn_id", "id"),
        # Whether an agency holds or held a step of an instance (who may read its files and history).
        Index("ix_task_instance_agency", "instance_id", "agency_code"),
        Index("ix_task_state_due", "state", "due_at"),  # the overdue scan
        # Not unique: a step sent back to (退回) runs again under the engine task id it had before.
        Index("ix_task_spiff_task_id", "spiff_task_id"),
        Index("ix_task_open", "instance_id", sqlite_where=text(OPEN_ROWS), postgresql_where=text(OPEN_ROWS)),
        Index(
            "ix_task_sent_back", "instance_id", sqlite_where=text(SENT_BACK_ROWS), postgresql_where=text(SENT_BACK_ROWS)
        ),
        one_of("state", TaskState),
        one_of("kind", TaskKind),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    # "step": a human task of the model; "reminder": an overdue step escalated to the agency's lead.
    kind: Mapped[str] = mapped_column(String(16), default=TaskKind.STEP, server_default=TaskKind.STEP.value)
    reminder_for_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spiff_task_id: Mapped[str] = mapped_column(String(48))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(300))
    stage: Mapped[str] = mapped_column(String(300), default="")  # the (called) process it belongs to
    lane: Mapped[str | None] = mapped_column(String(128))
    agency_code: Mapped[str] = mapped_column(ForeignKey("agency.code"))
    form: Mapped[str | None] = mapped_column(String(200))
    documentation: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Who the step was done for, when a substitute or a delegate did it ("A for B").
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The holder who delegated this claimed step to its current assignee, and may recall it.
    delegated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    time_limit: Mapped[str | None] = mapped_column(String(16))  # "20WD" or "7CD", from the model
    # Counts toward the agencies' statutory clock: it has a limit and does not stop the clock
    # (steps waiting on the applicant's 补正 or on experts stop it).
    statutory: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Four eyes: whoever completed one of these earlier steps (BPMN ids) may not claim or complete this one.
    excluded_steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_provisional: Mapped[bool] = mapped_column(default=False)  # counted into a year without official data
    limit_workdays: Mapped[int | None]
    counted_workdays: Mapped[int | None]
    outcome: Mapped[str | None] = mapped_column(String(64))
    opinion: Mapped[str | None] = mapped_column(Text)  # the written opinion (审查意见) given on completion
    input_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # data when it became ready
    submitted_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    instance: Mapped[ProcessInstance] = relationship(back_populates="tasks")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])
    delegated_by: Mapped[User | None] = relationship(foreign_keys=[delegated_by_id])

    # The open and overdue rules, once: usable on a row and in a query (``Task.is_open``).
    @hybrid_property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls) -> ColumnElement[bool]:
        return cls.state.in_(OPEN)  # the states in the SQL text (see OPEN)

    # Done, not sent back (退回): what the four-eyes rule, a send back's target and the clock after
    # a send back count as a step's run that finished.
    @hybrid_property
    def finished_normally(self) -> bool:
        return self.state == TaskState.COMPLETED and self.outcome != Outcome.SENT_BACK

    @finished_normally.inplace.expression
    @classmethod
    def _finished_normally_expression(cls) -> ColumnElement[bool]:
        return and_(cls.state == TaskState.COMPLETED, cls.outcome.is_distinct_from(Outcome.SENT_BACK))

    def _overdue_at(self, now: datetime) -> bool:
        return self.is_open and self.due_at is not None and self.due_at < now

    overdue_at = hybrid_method(_overdue_at, lambda cls, now: _overdue_expression(cls, now))  # open after its due time

    @property
    def is_step(self) -> bool:
        return self.kind == TaskKind.STEP


def _overdue_expression(cls: type[Task], now: datetime) -> ColumnElement[bool]:
    """``Task.overdue_at(now)`` in a query."""
    return and_(cls.is_open, cls.due_at.is_not(None), cls.due_at < now)


class Material(Base):
    """A file attached to a step (材料), or a document a step issued (批复, permit) with its number.

    The bytes live once per content in the material store (``services/material_store.py``),
    named by their SHA-256; this row is the metadata and who may see it follows from its instance."""

    __tablename__ = "material"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"), index=True)
    field: Mapped[str | None] = mapped_column(String(128))  # the form field it satisfies, if any
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # the detected type: pdf, docx, dwg, ...
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    document_number: Mapped[str | None] = mapped_column(String(128))  # 文号 of an issued document
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # removed before the step completed

    task: Mapped[Task] = relationship()
    uploaded_by: Mapped[User] = relationship()


class Substitution(Base):
    """Out of office: ``substitute`` acts for ``user`` on the local dates ``starts_on``..``ends_on``."""

    __tablename__ = "substitution"
    __table_args__ = (Index("ix_substitution_substitute_dates", "substitute_id", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    substitute_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    substitute: Mapped[User] = relationship(foreign_keys=[substitute_id])

    def in_force_on(self, day: date) -> bool:
        return self.revoked_at is None and self.starts_on <= day <= self.ends_on


class ReferenceRevision(Base):
    """How often a kind of reference data (the calendar, the agency directory) has changed: each
    process caches that data keyed by the sum of these counters (services/reference.py)."""

    __tablename__ = "reference_revision"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(default=0)


class Incident(Base):
    """An engine failure that stopped an instance: where, what, how often, since when."""

    __tablename__ = "incident"
    __table_args__ = (one_of("status", IncidentStatus), Index("ix_incident_status_instance", "status", "instance_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    element: Mapped[str | None] = mapped_column(String(128))  # the BPMN id that failed, when known
    kind: Mapped[str] = mapped_column(String(32))  # "engine", "timer": what was running
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instance: Mapped[ProcessInstance] = relationship()


class SavedFilter(Base):
    """An inbox view a user named and keeps (its query: filters, search and order)."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    query: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerHeartbeat(Base):
    """When a timer worker last finished a pass (``/healthz`` shows its age)."""

    __tablename__ = "worker_heartbeat"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # host:pid of the worker
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class CalendarYear(Base):
    """A year's official holiday arrangement, loaded by an admin; overrides the bundled data."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(500), default="")
    rest_days: Mapped[list[str]] = mapped_column(JSON)  # ISO dates of weekdays that are rest days
    work_days: Mapped[list[str]] = mapped_column(JSON)  # ISO dates of weekend days worked in lieu
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class Event(Base):
    """The append-only audit trail: who did what, when."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_name: Mapped[str] = mapped_column(String(64), default="system")
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))  # the request that caused it (logs carry it too)


class OutboxMessage(Base):
    """An audit event waiting to be handed to the webhooks that want it: written in the same
    transaction as the event, so none is lost and none is sent for a change that rolled back; the
    dispatcher turns it into deliveries and deletes it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship()


class Webhook(Base):
    """A receiver of events: an http(s) URL on an allowed host, the event types it wants (``*``:
    all), the secret its deliveries are signed with, and the agency whose view of a payload it
    gets (None: everything)."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    agency_code: Mapped[str | None] = mapped_column(ForeignKey("agency.code"))
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: sent at least once, in order per instance, with back-off."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        one_of("status", DeliveryStatus),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_order", "webhook_id", "instance_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    instance_id: Mapped[int | None] = mapped_column()  # the event's, for the order per instance
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)  # X-Approvals-Delivery
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column()  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()
    event: Mapped[Event] = relationship()


class Notification(Base):
    """Something to tell a person, waiting for the next mail to them (one mail holds all of a
    user's waiting notifications: a digest). A step's due-soon and overdue notices are made once."""

    __tablename__ = "notification"
    __table_args__ = (
        one_of("kind", NotificationKind),
        Index("ix_notification_unsent", "sent_at", "user_id"),
        Index("ix_notification_once", "user_id", "kind", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    text: Mapped[str] = mapped_column(Text, default="")  # a line of the mail, in Chinese
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
    task: Mapped[Task | None] = relationship()


class IdempotencyKey(Base):
    """A client's Idempotency-Key and the response its request got, replayed on a retry."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_key_user_id_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginFailure(Base):
    """A sign-in attempt not known to have succeeded, counted to slow down password guessing
    (see services/users.py); rows older than the throttle window are pruned."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username_at", "username", "created_at"),
        Index("ix_login_failure_address_at", "address", "created_at"),
        Index("ix_login_failure_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64), default="", server_default="")  # the client's IP
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""What operators watch: a request id on every request (the ``X-Request-Id`` it came with, or a new
one), in each JSON log line and in the audit events it causes; and ``GET /metrics`` in the
Prometheus text format (prometheus-client).

Request counts and latencies are counted in the process that served them; under gunicorn
(``approvals serve``) every worker writes them to ``PROMETHEUS_MULTIPROC_DIR`` and a scrape adds
them up (multiprocess mode). What the database knows (open and overdue steps by agency,
completions, statutory breaches, open incidents, the webhook outbox, the worker's heartbeat) is
read at each scrape, so every process answers the same."""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from .db import Database
from .engine import ENGINE_LOGGER
from .models import (
    DeliveryStatus,
    Incident,
    IncidentStatus,
    OutboxMessage,
    Task,
    TaskKind,
    TaskState,
    WebhookDelivery,
    WorkerHeartbeat,
    utcnow,
)
from .request_context import REQUEST_ID

REQUESTS = Counter("approvals_http_requests", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "approvals_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")  # a caller's X-Request-Id, if it looks like one
log = logging.getLogger("approvals.request")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the request id, and extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (``approvals serve`` and ``worker``), unless the
    process has set up its logging already (an embedding program, the test runner). The workflow
    engine's own lines only from warnings up: at INFO it writes every task state change (the sample
    model's start wrote 10 lines, a completion 2 to 5, each a JSON line and a write for the worker)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger(ENGINE_LOGGER).setLevel(engine_level(level))


def engine_level(level: int) -> int:
    """The level of the workflow engine's logger in a process that logs at ``level``."""
    return max(level, logging.WARNING)


def init_app(app: Flask) -> None:
    @app.before_request
    def _begin() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if ACCEPTED_ID.match(given) else uuid.uuid4().hex
        g.request_token = REQUEST_ID.set(g.request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def _end(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        started = g.get("request_started")
        if started is not None:
            elapsed = time.perf_counter() - started
            REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            LATENCY.labels(route, request.method).observe(elapsed)
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "fields": {
                        "route": route,
                        "status": response.status_code,
                        "duration_ms": round(elapsed * 1000, 1),
                        "remote": request.remote_addr,
                        "request_id": g.get("request_id"),
                    }
                },
            )
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            REQUEST_ID.reset(token)

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics (text format 0.0.4); with ``APPROVALS_METRICS_TOKEN`` set, only for a
        scraper that sends it as a bearer token."""
        token = str(app.config.get("METRICS_TOKEN") or "")
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token and not hmac.compare_digest(given.encode(), token.encode()):
            return Response("a bearer token is required\n", 401, {"WWW-Authenticate": "Bearer"}, mimetype="text/plain")
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            MultiProcessCollector(registry)  # every gunicorn worker's counts
        else:
            registry.register(REQUESTS)
            registry.register(LATENCY)
        registry.register(DatabaseCollector(app.extensions["approvals_db"]))
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


class DatabaseCollector:
    """The figures the database holds, read (one read-only transaction) at each scrape."""

    def __init__(self, database: Database):
        self.database = database

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.database.session(read_only=True) as session:
            open_steps = GaugeMetricFamily("approvals_open_steps", "Open steps by agency", labels=["agency"])
            overdue = GaugeMetricFamily("approvals_overdue_steps", "Open steps past their due date", labels=["agency"])
            step = Task.kind == TaskKind.STEP
            for agency, count, late in session.execute(
                select(Task.agency_code, func.count(), func.count().filter(Task.overdue_at(now)))
                .where(Task.is_open, step)
                .group_by(Task.agency_code)
            ):
                open_steps.add_metric([agency], count)
                overdue.add_metric([agency], late)
            yield open_steps
            yield overdue
            completed = GaugeMetricFamily(
                "approvals_completed_steps", "Steps completed so far, by agency", labels=["agency"]
            )
            breaches = GaugeMetricFamily(
                "approvals_statutory_breaches",
                "Statutory steps completed after their due date, or still open past it, by agency",
                labels=["agency"],
            )
            late_done = Task.completed_at > Task.due_at
            for agency, done, broken in session.execute(
                select(
                    Task.agency_code,
                    func.count().filter(Task.state == TaskState.COMPLETED),
                    func.count().filter(Task.statutory.is_(True), late_done | Task.overdue_at(now)),
                )
                .where(step)
                .group_by(Task.agency_code)
            ):
                completed.add_metric([agency], done)
                breaches.add_metric([agency], broken)
            yield completed
            yield breaches
            incidents = session.scalar(select(func.count()).where(Incident.status == IncidentStatus.OPEN)) or 0
            yield GaugeMetricFamily("approvals_open_incidents", "Instances stopped in error", value=incidents)
            backlog, oldest = session.execute(select(func.count(), func.min(OutboxMessage.created_at))).one()
            pending, first = session.execute(
                select(func.count(), func.min(WebhookDelivery.created_at)).where(
                    WebhookDelivery.status == DeliveryStatus.PENDING
                )
            ).one()
            dead = session.scalar(select(func.count()).where(WebhookDelivery.status == DeliveryStatus.DEAD)) or 0
            yield GaugeMetricFamily("approvals_outbox_backlog", "Events not yet handed to webhooks", value=backlog)
            yield GaugeMetricFamily("approvals_webhook_pending", "Webhook deliveries not yet made", value=pending)
            yield GaugeMetricFamily("approvals_webhook_dead", "Webhook deliveries given up", value=dead)
            waiting = [moment for moment in (oldest, first) if moment is not None]
            yield GaugeMetricFamily(
                "approvals_outbox_oldest_age_seconds",
                "Age of the oldest event or delivery still waiting to be sent",
                value=(now - min(waiting)).total_seconds() if waiting else 0,
            )
            beat = session.scalar(select(func.max(WorkerHeartbeat.beat_at)))
            yield GaugeMetricFamily(
                "approvals_worker_heartbeat_age_seconds",
                "Seconds since a worker last finished a pass (-1: never)",
                value=(now - beat).total_seconds() if beat is not None else -1,
            )

"""What the current request is, for the layers that must not know HTTP: its id goes into every log
line and into the audit events it causes (set by ``observability.py`` for each request)."""

from __future__ import annotations

from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

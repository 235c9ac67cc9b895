"""How the service is doing, for ``/healthz``: the timer workers' last heartbeat and the instances
that stopped in error (each one waits for an owner or admin)."""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Incident, IncidentStatus, InstanceStatus, ProcessInstance, WorkerHeartbeat, utcnow


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def beat(session: Session, name: str) -> None:
    """Record that worker ``name`` finished a pass now."""
    row = session.get(WorkerHeartbeat, name)
    if row is None:
        session.add(WorkerHeartbeat(name=name, beat_at=utcnow()))
    else:
        row.beat_at = utcnow()
    session.flush()


def report(session: Session) -> dict[str, Any]:
    last = session.scalar(select(func.max(WorkerHeartbeat.beat_at)))
    in_error = session.scalar(
        select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == InstanceStatus.ERROR)
    )
    open_incidents = session.scalar(
        select(func.count()).select_from(Incident).where(Incident.status == IncidentStatus.OPEN)
    )
    return {
        "status": "ok",
        "worker": {
            "last_heartbeat": last.isoformat() if last else None,
            "age_seconds": round((utcnow() - last).total_seconds()) if last else None,
        },
        "instances_in_error": in_error or 0,
        "open_incidents": open_incidents or 0,
    }

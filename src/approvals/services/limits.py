"""Engine and upload limits, and where uploads are kept: carried on each session's ``info``
so that services need no app context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..config import DEFAULTS


def _default(name: str) -> Any:
    return DEFAULTS[name]  # the one place defaults live: config.DEFAULTS


@dataclass(frozen=True)
class Limits:
    """The settings services enforce."""

    max_bpmn_bytes: int = _default("MAX_BPMN_BYTES")
    max_form_bytes: int = _default("MAX_FORM_BYTES")
    script_timeout: float = _default("SCRIPT_TIMEOUT_SECONDS")
    script_memory_bytes: int = _default("SCRIPT_MEMORY_BYTES")
    data_dir: str = _default("DATA_DIR")
    max_material_bytes: int = _default("MAX_MATERIAL_BYTES")
    max_task_material_bytes: int = _default("MAX_TASK_MATERIAL_BYTES")
    max_data_bytes: int = _default("MAX_DATA_BYTES")
    max_state_bytes: int = _default("MAX_INSTANCE_STATE_BYTES")
    timer_retries: int = _default("TIMER_RETRIES")
    timer_retry_seconds: float = _default("TIMER_RETRY_SECONDS")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Limits:
        return cls(
            max_bpmn_bytes=int(settings["MAX_BPMN_BYTES"]),
            max_form_bytes=int(settings["MAX_FORM_BYTES"]),
            script_timeout=float(settings["SCRIPT_TIMEOUT_SECONDS"]),
            script_memory_bytes=int(settings["SCRIPT_MEMORY_BYTES"]),
            data_dir=str(settings["DATA_DIR"]),
            max_material_bytes=int(settings["MAX_MATERIAL_BYTES"]),
            max_task_material_bytes=int(settings["MAX_TASK_MATERIAL_BYTES"]),
            max_data_bytes=int(settings["MAX_DATA_BYTES"]),
            max_state_bytes=int(settings["MAX_INSTANCE_STATE_BYTES"]),
            timer_retries=int(settings["TIMER_RETRIES"]),
            timer_retry_seconds=float(settings["TIMER_RETRY_SECONDS"]),
        )


def limits_of(session: Session) -> Limits:
    return session.info.get("limits") or Limits()

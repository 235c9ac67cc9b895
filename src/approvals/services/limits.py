"""Engine and upload limits, and where uploads are kept: carried on each session's ``info``
so that services need no app context."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..config import DEFAULTS


@dataclass(frozen=True)
class Limits:
    max_bpmn_bytes: int = 2 * 1024 * 1024
    max_form_bytes: int = 256 * 1024
    script_timeout: float = 1.0
    script_memory_bytes: int = 256 * 1024 * 1024
    data_dir: str = str(DEFAULTS["DATA_DIR"])
    max_material_bytes: int = 50 * 1024 * 1024
    max_task_material_bytes: int = 200 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(
            max_bpmn_bytes=int(settings["MAX_BPMN_BYTES"]),
            max_form_bytes=int(settings["MAX_FORM_BYTES"]),
            script_timeout=float(settings["SCRIPT_TIMEOUT_SECONDS"]),
            script_memory_bytes=int(settings["SCRIPT_MEMORY_BYTES"]),
            data_dir=str(settings["DATA_DIR"]),
            max_material_bytes=int(settings["MAX_MATERIAL_BYTES"]),
            max_task_material_bytes=int(settings["MAX_TASK_MATERIAL_BYTES"]),
        )


def limits_of(session: Session) -> Limits:
    return session.info.get("limits") or Limits()

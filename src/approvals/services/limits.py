"""Engine and upload limits, carried on each session's ``info`` so services need no app context."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Limits:
    max_bpmn_bytes: int = 2 * 1024 * 1024
    max_form_bytes: int = 256 * 1024
    script_timeout: float = 1.0
    script_memory_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings) -> Limits:
        return cls(
            max_bpmn_bytes=int(settings["MAX_BPMN_BYTES"]),
            max_form_bytes=int(settings["MAX_FORM_BYTES"]),
            script_timeout=float(settings["SCRIPT_TIMEOUT_SECONDS"]),
            script_memory_bytes=int(settings["SCRIPT_MEMORY_BYTES"]),
        )


def limits_of(session: Session) -> Limits:
    return session.info.get("limits") or Limits()

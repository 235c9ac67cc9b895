"""Errors raised by the engine package, free of any SpiffWorkflow type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model: the element at fault (None for the whole file) and why."""

    element: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"element": self.element, "message": self.message}


class ModelRejected(Exception):
    """A BPMN file or its forms cannot be published; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.element or 'file'}: {p.message}" for p in problems))


class ExpressionError(Exception):
    """An expression is not allowed by the sandbox or failed to evaluate."""


class ScriptError(Exception):
    """A script task was refused, failed, ran too long or used too much memory."""


class UnsafeData(ValueError):
    """Task data that could break the saved state (reserved keys, non-JSON values, too deep)."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class EngineFailure(Exception):
    """The workflow engine failed while running a model (a runtime error in the model)."""

    def __init__(self, message: str, element: str | None = None):
        self.element = element
        super().__init__(message)

"""What a message from outside must satisfy at the places that wait for it, one rule for
POST /api/messages (services/messages.py) and for model tests (services/model_tests.py): it comes
from the system of an agency whose lane holds a catcher, and its data fills each catcher's form."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..engine.runtime import ModelRuntime, WaitingMessage
from .forms import validate_submission


def catcher_agencies(
    runtime: ModelRuntime, waiting: Iterable[WaitingMessage], data: dict[str, Any], directory: Mapping[str, str]
) -> set[str | None]:
    """The agencies of the catchers' lanes (a routing lane evaluated on ``data``; None: unknown)."""
    return {directory.get(runtime.route(catcher.lane, data) or "") for catcher in waiting}


def unfilled_form(
    waiting: Iterable[WaitingMessage], data: dict[str, Any], schema_of: Callable[[str], dict[str, Any] | None]
) -> tuple[str, dict[str, list[str]]] | None:
    """The first catcher's form that ``data`` does not fill, with what is wrong (None: all filled)."""
    for catcher in waiting:
        errors = validate_submission(schema_of(catcher.form), data) if catcher.form else {}
        if errors:
            return str(catcher.form), errors
    return None

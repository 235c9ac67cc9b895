"""Task data rules: what may enter a workflow's state, and how it crosses process boundaries.

SpiffWorkflow's serializer treats any dict with a ``typename`` key as one of its own objects, so
such data would break the saved state; keys starting with ``_`` are reserved for the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..text import storable
from .errors import UnsafeData

MAX_DEPTH = 32
# Tagged JSON for the script child process: dates and decimals survive the round trip.
_TAG = "$approvals"
# "typename" is SpiffWorkflow's serializer tag, "$approvals" ours: data that carried either could
# pass for an object it is not.
RESERVED_KEYS = frozenset({"typename", _TAG})
_SCALARS = (str, bool, int, type(None))


def unstorable_text(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) in ``value`` that is not ``storable``, else None."""
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                return where
        elif isinstance(item, Mapping) and depth <= MAX_DEPTH:
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not storable(key):
                    return where
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, list | tuple) and depth <= MAX_DEPTH:
            stack.extend((child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item))
    return None


def check_safe_data(value: Any, path: str = "data", depth: int = 0) -> None:
    """Raise UnsafeData naming the first offending path."""
    if depth > MAX_DEPTH:
        raise UnsafeData(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsafeData(path, "keys must be strings")
            if key in RESERVED_KEYS or key.startswith("_") or not storable(key):
                raise UnsafeData(f"{path}.{key}", "this field name is reserved")
            check_safe_data(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_safe_data(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeData(path, "numbers must be finite")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise UnsafeData(path, "numbers must be finite")
    elif isinstance(value, str):
        if not storable(value):
            raise UnsafeData(path, "text must not contain NUL characters or unpaired surrogates")
    elif not isinstance(value, _SCALARS + (date, Decimal)):
        raise UnsafeData(path, f"values of type {type(value).__name__} cannot be stored")


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        plain = {k: to_jsonable(v) for k, v in value.items()}
        # A dict that has the tag key of its own stays a dict on the way back (and is then refused).
        return {_TAG: "dict", "value": plain} if _TAG in value else plain
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return {_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "value": str(value)}
    if isinstance(value, set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if tag == "datetime":
            return datetime.fromisoformat(value["value"])
        if tag == "date":
            return date.fromisoformat(value["value"])
        if tag == "decimal":
            return Decimal(value["value"])
        if tag == "dict":
            return {k: from_jsonable(v) for k, v in value["value"].items()}
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value


def json_size(value: Any) -> int:
    """Bytes ``value`` takes as stored JSON (UTF-8)."""
    return len(json.dumps(plain_json(value), ensure_ascii=False).encode())


def plain_json(value: Any) -> Any:
    """A JSON-only copy for display columns and API output: dates as ISO text, decimals as text."""
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_json(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

"""A step's JSON Schema as an HTML form, and the posted form back as the data the schema checks.

Each property becomes one field: text, long text, numbers, dates, choices (``enum``, labelled by
``x-enum-titles``), a yes/no box, a list of lines, files (``x-material``), or JSON for anything
nested. The server validates the result against the schema, exactly as for the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

LONG_TEXT = 200  # longer strings get a text area


@dataclass
class Field:
    name: str
    title: str
    kind: str  # text, textarea, number, integer, date, select, checkbox, lines, files, json
    required: bool
    value: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    errors: list[str] = field(default_factory=list)
    description: str = ""
    accept: str = ""
    choices: dict[str, Any] = field(default_factory=dict)  # option value -> the enum's own value


def fields_of(
    schema: dict[str, Any] | None, values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None
) -> list[Field]:
    if not schema:
        return []
    values, errors = values or {}, errors or {}
    required = set(schema.get("required") or [])
    result = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        kind, options, accept = _kind(prop)
        result.append(
            Field(
                name=name,
                title=prop.get("title") or name,
                kind=kind,
                required=name in required,
                value=values.get(name),
                options=options,
                description=prop.get("description", ""),
                choices={str(v): v for v in prop.get("enum") or []},
                errors=[
                    m
                    for key, ms in errors.items()
                    if key == name or key.startswith(name + ".") or key.startswith(name + "[")
                    for m in ms
                ],
                accept=accept,
            )
        )
    return result


def _kind(prop: dict[str, Any]) -> tuple[str, list[tuple[str, str]], str]:
    if "x-material" in prop:
        types = (prop.get("x-material") or {}).get("types") or []
        return "files", [], ",".join(f".{t}" for t in types if t not in ("image", "office", "drawing", "archive"))
    if "enum" in prop:
        titles = prop.get("x-enum-titles") or []
        return "select", [(str(v), titles[i] if i < len(titles) else str(v)) for i, v in enumerate(prop["enum"])], ""
    kind = prop.get("type")
    if kind == "boolean":
        return "checkbox", [], ""
    if kind in ("number", "integer"):
        return kind, [], ""
    if kind == "string":
        if prop.get("format") == "date":
            return "date", [], ""
        return ("textarea" if (prop.get("maxLength") or 10**6) > LONG_TEXT else "text"), [], ""
    if kind == "array" and (prop.get("items") or {}).get("type") == "string":
        return "lines", [], ""
    return "json", [], ""


def data_from(schema: dict[str, Any] | None, form: MultiDict) -> dict[str, Any]:
    """The submission as JSON: empty fields are left out, so ``required`` names them."""
    data: dict[str, Any] = {}
    for item in fields_of(schema):
        raw = form.get(item.name, "")
        if item.kind == "files":
            continue  # filled from the step's materials by the service
        if item.kind == "checkbox":
            data[item.name] = raw in ("true", "on", "1")
            continue
        if raw.strip() == "":
            continue
        data[item.name] = _converted(item, raw)
    return data


def _converted(item: Field, raw: str) -> Any:
    try:
        if item.kind == "integer":
            return int(raw)
        if item.kind == "number":
            number = float(raw)
            return int(number) if number.is_integer() and "." not in raw else number
        if item.kind == "select":
            return item.choices.get(raw, raw)
        if item.kind == "lines":
            return [line.strip() for line in raw.splitlines() if line.strip()]
        if item.kind == "json":
            return json.loads(raw)
    except ValueError:
        return raw  # the schema check names the field and its type
    return raw

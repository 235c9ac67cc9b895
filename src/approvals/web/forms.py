"""A step's JSON Schema as an HTML form, and the posted form back as the data the schema checks.

Each property becomes one field: text, long text, numbers, dates, choices (``enum``, labelled by
``x-enum-titles``: radio buttons up to six, else a list), yes/no as two radio buttons (so an
untouched required answer is refused, never a silent "no"), a list of lines, files (``x-material``),
or JSON for anything nested. A field the schema requires only when another has a value (``allOf``
of ``if``/``then``) says so, and the page shows it only then. The server validates the result
against the schema, exactly as for the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

LONG_TEXT = 200  # longer strings get a text area
MAX_RADIOS = 6  # more choices than this make a list


@dataclass
class Field:
    name: str
    title: str
    kind: str  # text, textarea, number, integer, date, radio, select, lines, files, json
    required: bool
    value: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    errors: list[str] = field(default_factory=list)
    description: str = ""
    accept: str = ""
    choices: dict[str, Any] = field(default_factory=dict)  # option value -> the enum's own value
    when_field: str = ""  # shown (and required) only when this field ...
    when_values: list[str] = field(default_factory=list)  # ... has one of these values (as posted)

    @property
    def posted(self) -> str | None:
        """The value as the form posts it (to mark the chosen radio button)."""
        return None if self.value is None else _posted(self.value)


def fields_of(
    schema: dict[str, Any] | None, values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None
) -> list[Field]:
    if not schema:
        return []
    values, errors = values or {}, errors or {}
    required = set(schema.get("required") or [])
    conditions = _conditions(schema)
    result = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        kind, options, accept = _kind(prop)
        when = conditions.get(name, ("", []))
        result.append(
            Field(
                name=name,
                title=prop.get("title") or name,
                kind=kind,
                required=name in required or bool(when[0]),
                value=values.get(name),
                options=options,
                description=prop.get("description", ""),
                choices=_choices(prop),
                errors=[
                    m
                    for key, ms in errors.items()
                    if key == name or key.startswith(name + ".") or key.startswith(name + "[")
                    for m in ms
                ],
                accept=accept,
                when_field=when[0],
                when_values=when[1],
            )
        )
    return result


def _kind(prop: dict[str, Any]) -> tuple[str, list[tuple[str, str]], str]:
    if "x-material" in prop:
        types = (prop.get("x-material") or {}).get("types") or []
        return "files", [], ",".join(f".{t}" for t in types if t not in ("image", "office", "drawing", "archive"))
    titles = prop.get("x-enum-titles") or []
    if prop.get("type") == "boolean":
        return "radio", [("true", titles[0] if titles else "是"), ("false", titles[1] if len(titles) > 1 else "否")], ""
    if "enum" in prop:
        options = [(_posted(v), titles[i] if i < len(titles) else str(v)) for i, v in enumerate(prop["enum"])]
        return ("radio" if len(options) <= MAX_RADIOS else "select"), options, ""
    kind = prop.get("type")
    if kind in ("number", "integer"):
        return kind, [], ""
    if kind == "string":
        if prop.get("format") == "date":
            return "date", [], ""
        return ("textarea" if (prop.get("maxLength") or 10**6) > LONG_TEXT else "text"), [], ""
    if kind == "array" and (prop.get("items") or {}).get("type") == "string":
        return "lines", [], ""
    return "json", [], ""


def _posted(value: Any) -> str:
    """An answer as a form posts it (yes/no as true/false)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _choices(prop: dict[str, Any]) -> dict[str, Any]:
    """Posted value -> the schema's own value, for choices and yes/no."""
    if prop.get("type") == "boolean":
        return {"true": True, "false": False}
    return {_posted(v): v for v in prop.get("enum") or []}


def _conditions(schema: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Fields required only when another has one of some values (``allOf`` of ``if``/``then``):
    name -> (the other field, its values as posted)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for rule in schema.get("allOf") or []:
        tested = ((rule.get("if") or {}).get("properties") or {}) if isinstance(rule, dict) else {}
        if len(tested) != 1 or not isinstance(rule.get("then"), dict):
            continue
        ((other, test),) = tested.items()
        if not isinstance(test, dict):
            continue
        values = [test["const"]] if "const" in test else test.get("enum")
        if not isinstance(values, list):
            continue
        for name in rule["then"].get("required") or []:
            found[name] = (other, [_posted(v) for v in values])
    return found


def data_from(schema: dict[str, Any] | None, form: MultiDict) -> dict[str, Any]:
    """The submission as JSON: empty fields are left out, so ``required`` names them."""
    data: dict[str, Any] = {}
    for item in fields_of(schema):
        raw = form.get(item.name, "")
        if item.kind == "files":
            continue  # filled from the step's materials by the service
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
        if item.kind in ("select", "radio"):
            return item.choices.get(raw, raw)
        if item.kind == "lines":
            return [line.strip() for line in raw.splitlines() if line.strip()]
        if item.kind == "json":
            return json.loads(raw)
    except ValueError:
        return raw  # the schema check names the field and its type
    return raw


# -- data as people read it ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One value of the process data: under its form's title, choices by their titles."""

    name: str
    title: str
    text: str
    material_ids: list[int] = field(default_factory=list)  # a files field: the materials it holds


def _properties(forms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Field name -> its schema in the first of the model's forms that defines it."""
    found: dict[str, dict[str, Any]] = {}
    for schema in forms.values():
        for name, prop in ((schema or {}).get("properties") or {}).items():
            if isinstance(prop, dict):
                found.setdefault(name, prop)
    return found


def readable(
    forms: dict[str, dict[str, Any]],
    data: dict[str, Any],
    yes_no: tuple[str, str],
    message_forms: dict[str, str] | None = None,
) -> list[Shown]:
    """``data`` as a step's page shows it: each value under the title a form of the model gives it,
    a choice by its title, yes/no in words, lists joined, materials as links (``material_ids``); a
    message kept in a variable (``message_forms``: variable -> its catcher's form) under the form's
    title, field by field. Names no form defines (set by scripts) show under their own name."""
    properties = _properties(forms)
    shown = []
    for name, value in data.items():
        if name == "project" or name.startswith("_"):
            continue
        message_form = forms.get((message_forms or {}).get(name, "")) or {}
        if message_form and isinstance(value, dict):
            fields = message_form.get("properties") or {}
            text = "\n".join(
                f"{fields.get(key, {}).get('title') or key}：{_as_text(fields.get(key, {}), item, yes_no)}"
                for key, item in value.items()
            )
            shown.append(Shown(name, message_form.get("title") or name, text))
            continue
        prop = properties.get(name, {})
        title = prop.get("title") or name
        if "x-material" in prop and isinstance(value, list):
            shown.append(Shown(name, title, "", [v for v in value if isinstance(v, int)]))
            continue
        shown.append(Shown(name, title, _as_text(prop, value, yes_no)))
    return shown


def _as_text(prop: dict[str, Any], value: Any, yes_no: tuple[str, str]) -> str:
    titles = dict(_kind(prop)[1]) if ("enum" in prop or prop.get("type") == "boolean") else {}
    if isinstance(value, bool):
        return titles.get(_posted(value)) or yes_no[0 if value else 1]
    if titles and _posted(value) in titles:
        return titles[_posted(value)]
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "、".join(str(v) for v in value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):  # rows: one a line
        return "\n".join(" · ".join(str(v) for v in row.values()) for row in value)
    if isinstance(value, dict):
        return " · ".join(str(v) for v in value.values())
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def answer_titles(forms: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A choice's value -> its title in the model's forms (the first form's title wins), for
    outcomes shown in histories (``approve`` → 批准)."""
    titles: dict[str, str] = {}
    for prop in _properties(forms).values():
        if "enum" in prop:
            for value, label in _kind(prop)[1]:
                titles.setdefault(value, label)
    return titles

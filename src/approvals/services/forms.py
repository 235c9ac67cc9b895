"""Form submissions: validated against the step's JSON Schema on every submit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import regex
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from sqlalchemy.orm import Session

from ..engine.data import check_safe_data, json_size
from ..engine.errors import UnsafeData
from ..text import N_, Message, msg
from .errors import InvalidInput
from .limits import limits_of

MAX_ERRORS_PER_FIELD = 5
# A form's "pattern" runs on what staff type; a pattern like ^(a+)+$ takes exponential time on
# "aaaa…!", so each match gets this long (the ``regex`` package can stop a match; ``re`` cannot).
PATTERN_SECONDS = 0.25


def _bounded_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        found = regex.search(pattern, instance, timeout=PATTERN_SECONDS)
    except TimeoutError:
        yield ValidationError(msg("this value takes too long to check against the field's pattern; shorten it"))
        return
    except regex.error:
        yield ValidationError(msg("the form's pattern for this field is not a valid regular expression"))
        return
    if found is None:
        yield ValidationError(msg("{value!r} does not match {pattern!r}", value=instance, pattern=pattern))


FormValidator = validators.extend(Draft202012Validator, {"pattern": _bounded_pattern})


def require_data_size(session: Session, data: Any) -> None:
    """Refuse (422) process data larger than one request may add (``APPROVALS_MAX_DATA_BYTES``)."""
    limit = limits_of(session).max_data_bytes
    size = json_size(data)
    if size > limit:
        raise InvalidInput(
            msg("the data is {size} bytes; at most {limit} may be sent at once", size=size, limit=limit),
            {"data": [msg("at most {limit} bytes of JSON", limit=limit)]},
        )


def validate_submission(schema: dict[str, Any] | None, data: Any) -> dict[str, list[str]]:
    """Field path -> messages; empty when ``data`` is acceptable.

    A step without a form accepts only an empty object, so stray data cannot slip into the state.
    """
    if not isinstance(data, dict):
        return {"data": [msg("must be a JSON object")]}
    try:
        check_safe_data(data)
    except UnsafeData as exc:
        return {exc.path.removeprefix("data."): [str(exc).split(": ", 1)[1]]}
    if schema is None:
        return {name: [msg("this step has no form; it takes no data")] for name in data}
    errors: dict[str, list[str]] = {}
    validator = FormValidator(schema, format_checker=FormatChecker())
    for error in validator.iter_errors(data):
        for field, message in _explain(error, schema):
            messages = errors.setdefault(field, [])
            if message not in messages and len(messages) < MAX_ERRORS_PER_FIELD:
                messages.append(message)
    return errors


def _explain(error: Any, schema: dict[str, Any]) -> list[tuple[str, str]]:
    path = ".".join(str(p) for p in error.absolute_path)
    prefix = f"{path}." if path else ""
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [(f"{prefix}{name}", msg("this field is required")) for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema.get("properties") or {}).keys())
        extra = [name for name in error.instance if name not in known]
        return [(f"{prefix}{name}", msg("unknown field")) for name in extra]
    return [(path or "data", _message(error))]


# What staff read by a field, per JSON Schema keyword, in words the pages translate; any other
# keyword keeps jsonschema's own (English) message.
_KEYWORD_MESSAGES = {
    "type": N_("must be {expected}"),
    "enum": N_("must be one of the choices offered"),
    "const": N_("must be {expected}"),
    "minimum": N_("must be at least {expected}"),
    "maximum": N_("must be at most {expected}"),
    "exclusiveMinimum": N_("must be more than {expected}"),
    "exclusiveMaximum": N_("must be less than {expected}"),
    "multipleOf": N_("must be a multiple of {expected}"),
    "minLength": N_("must be at least {expected} characters long"),
    "maxLength": N_("must be at most {expected} characters long"),
    "minItems": N_("choose at least {expected}"),
    "maxItems": N_("choose at most {expected}"),
    "format": N_("must be a valid {expected}"),
}
_TYPE_WORDS = {
    "string": N_("text"),
    "integer": N_("whole number"),
    "number": N_("number"),
    "boolean": N_("yes/no"),
    "array": N_("list"),
}


def _message(error: ValidationError) -> str:
    own: str = error.message
    template = _KEYWORD_MESSAGES.get(str(error.validator))
    if isinstance(own, Message) or template is None:
        return own
    expected = error.validator_value
    if error.validator == "type" and isinstance(expected, str):
        return msg(template, expected=msg(_TYPE_WORDS.get(expected, expected)))
    if error.validator == "format":
        return msg(template, expected=msg(str(expected)))
    return msg(template, expected=expected)


def outcome_of(schema: dict[str, Any] | None, data: dict[str, Any]) -> str | None:
    """The decision a submission carries: the property marked ``x-outcome``, else ``decision``."""
    properties = (schema or {}).get("properties") or {}
    for name, prop in properties.items():
        if isinstance(prop, dict) and prop.get("x-outcome") and name in data:
            return str(data[name])
    for name in ("decision", "outcome"):
        if name in data and isinstance(data[name], str | int | bool):
            return str(data[name])
    return None


def validate_patch(forms: dict[str, dict[str, Any]], data: Any) -> dict[str, list[str]]:
    """Field -> messages for data an owner writes into a running instance: each field a form of
    the model defines is checked against that field's schema (the first form defining it); other
    fields only as any process data is (JSON, safe)."""
    errors = validate_submission({"type": "object"}, data)
    if errors or not isinstance(data, dict):
        return errors
    for name, value in data.items():
        for schema in forms.values():
            field = (schema.get("properties") or {}).get(name)
            if isinstance(field, dict):
                only: dict[str, Any] = {key: schema[key] for key in ("$defs", "definitions") if key in schema}
                errors.update(
                    validate_submission({**only, "type": "object", "properties": {name: field}}, {name: value})
                )
                break
    return errors

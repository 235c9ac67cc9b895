"""JSON request bodies the service can hold, checked before any view reads them.

Python refuses to parse an integer of more than 4300 digits (a ValueError that would surface as a
500, even on the anonymous sign-in), accepts ``NaN`` and ``Infinity`` literals, and turns
``1e999`` into infinity. A body with any of these is refused with a 422 here, once for every
endpoint; no field of the API or of a form needs numbers anywhere near these sizes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from ..services.errors import InvalidInput

MAX_INTEGER_DIGITS = 30  # an amount in 万元 or a count: 30 digits is far past any real one


class _Refused(ValueError):
    pass


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:20]} is too large")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows")


def check_json_body() -> None:
    """Raise InvalidInput (422) when the request's JSON body holds a number the service refuses.
    Bodies that are not JSON at all are left to the usual parsing (400)."""
    if not request.is_json or not request.content_length:
        return
    try:
        json.loads(request.get_data(cache=True), parse_int=_integer, parse_float=_number, parse_constant=_constant)
    except _Refused as exc:
        raise InvalidInput("a number in the body cannot be accepted", {"_body": [str(exc)]}) from None
    except ValueError:  # not JSON (or not UTF-8): the schema's own parsing answers 400
        return

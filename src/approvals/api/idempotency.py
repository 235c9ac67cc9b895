"""The Idempotency-Key header on POST start, claim and complete."""

from __future__ import annotations

from functools import wraps

from flask import Response, make_response, request

from ..db import get_session
from ..services import idempotency
from .auth import authenticate

HEADER = "Idempotency-Key"
DOC = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "a retry with the same key and body returns the first response and changes nothing; "
            "the same key with another body is refused with 422",
        }
    ]
}


def idempotent(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        user = authenticate()  # the caller's keys are theirs alone
        session = get_session()
        print_ = idempotency.fingerprint(request.method, request.path, request.get_data())
        stored = idempotency.replay(session, user, key, print_)
        if stored is not None:
            response = Response(stored.response_body, status=stored.status_code, mimetype="application/json")
            response.headers["Idempotent-Replayed"] = "true"
            return response
        row = idempotency.reserve(session, user, key, print_)
        response = make_response(view(*args, **kwargs))
        if response.status_code < 400:  # failures roll the reservation back with everything else
            idempotency.remember(session, row, response.status_code, response.get_data(as_text=True))
        return response

    return wrapper

"""The Idempotency-Key header on POST start, claim and complete."""

from __future__ import annotations

from functools import wraps

from flask import Response, make_response, request

from ..db import get_session
from ..services import idempotency
from ..services.users import user_for_token
from .auth import bearer_token

HEADER = "Idempotency-Key"
DOC = {"parameters": [{
    "in": "header", "name": HEADER, "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "a retry with the same key and body returns the first response and changes nothing; "
                   "the same key with another body is refused with 422",
}]}


def idempotent(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        token = bearer_token()
        user = user_for_token(get_session(), token) if key is not None and token else None
        if user is None:  # no key, or the view will answer 401 itself
            return view(*args, **kwargs)
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

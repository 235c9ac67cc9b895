"""One place that turns domain errors into HTTP answers of the documented error shape."""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, jsonify
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from ..http_edge import page_error, status_of, wants_page
from ..services import errors as domain
from ..text import msg


def error_response(status: int, message: str, errors: dict | None = None):
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="approvals"'
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(domain.DomainError)
    def _domain(exc: domain.DomainError):
        status = status_of(exc)
        errors = exc.errors
        if isinstance(exc, domain.InvalidInput) and errors:
            errors = {exc.location: errors}  # same location-keyed shape as request-schema errors
        response = error_response(status, exc.message, errors)
        if isinstance(exc, domain.TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(StaleDataError)
    def _stale(_exc):
        message = msg("the process instance was changed at the same moment; retry")
        return page_error(409, message) if wants_page() else error_response(409, message)

    @app.errorhandler(IntegrityError)
    def _integrity(_exc):
        message = msg("the change conflicts with one made at the same moment; retry")
        return page_error(409, message) if wants_page() else error_response(409, message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        # Werkzeug's own errors (404 route, 405, 413 too large) in the same JSON shape; a page of
        # the site for a person's browser outside the API.
        if wants_page():
            return page_error(exc.code or 500, exc.name)
        data = getattr(exc, "data", None) or {}
        errors = data.get("messages") or (data.get("errors") if isinstance(data, dict) else None)
        message = data.get("message") if isinstance(data, dict) and data.get("message") else exc.description
        return error_response(exc.code or 500, str(message), errors)

"""Domain errors; the API maps each class to one HTTP status in one place (api/errors.py)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: ``message`` for people, ``errors`` naming the fields or elements at fault."""

    def __init__(self, message: str, errors: dict[str, Any] | None = None):
        self.message = message
        self.errors = errors or {}
        super().__init__(message)


class NotFound(DomainError):
    pass


class NotAuthenticated(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    """The request is valid but the state does not allow it (taken, no longer open, duplicate)."""


class InvalidInput(DomainError):
    """The request's data is wrong; ``errors`` maps each field to its messages, found in
    ``location`` of the request (``json`` body, or ``form`` for a multipart upload)."""

    def __init__(self, message: str, errors: dict[str, Any] | None = None, location: str = "json"):
        super().__init__(message, errors)
        self.location = location


class UnsupportedType(DomainError):
    """An uploaded file's content is not an allowed type, or does not match its name."""


class PayloadTooLarge(DomainError):
    """An upload exceeds a size limit."""


class ModelInvalid(DomainError):
    """A process model cannot be published; ``errors['bpmn']`` lists elements and messages."""


class TooManyAttempts(DomainError):
    """Too many failed sign-ins for a user name; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after

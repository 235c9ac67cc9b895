"""URL converters for the API's path parameters, documented in the OpenAPI document as they are."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, UnicodeConverter


class RowId(IntegerConverter):
    """``<int:…>``: a non-negative integer that fits a database key (32-bit on PostgreSQL), so a
    larger number is a 404 rather than a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


class PathText(UnicodeConverter):
    """``<code>``, ``<key>``: one path segment of at most 200 characters without NUL, which
    PostgreSQL cannot store or compare (a NUL is a 404, not a database error)."""

    def __init__(self, url_map, minlength: int = 1, maxlength: int | None = 200, length: int | None = None):
        super().__init__(url_map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")

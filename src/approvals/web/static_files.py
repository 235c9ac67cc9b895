"""Static files served fast and safely: each URL the pages build carries a fingerprint of the
file's content (``?v=…``), so a browser may keep it for a year and still gets a new one the moment
the file changes; text files (scripts, styles, SVG, JSON) are compressed (Flask-Compress, gzip or
brotli as the browser accepts). A file asked for without its fingerprint is revalidated each time."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flask import Flask, Response, request
from flask_compress import Compress

YEAR = 365 * 24 * 3600
COMPRESSED = [
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
]

_fingerprints: dict[str, tuple[float, str]] = {}


def fingerprint(folder: str, filename: str) -> str | None:
    """The first 12 hex digits of the file's SHA-256 (None for a file that is not there), computed
    again only when the file's modification time changes."""
    path = Path(folder) / filename
    try:
        modified = os.stat(path).st_mtime
    except OSError:
        return None
    known = _fingerprints.get(str(path))
    if known is None or known[0] != modified:
        known = (modified, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
        _fingerprints[str(path)] = known
    return known[1]


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED)
    app.config.setdefault("COMPRESS_MIN_SIZE", 1024)
    Compress(app)
    folder = app.static_folder or ""

    @app.url_defaults
    def _fingerprinted(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            found = fingerprint(folder, values["filename"])
            if found:
                values["v"] = found

    def max_age(filename: str | None) -> int | None:
        return YEAR if request.args.get("v") else None  # None: revalidate each time (no-cache)

    app.get_send_file_max_age = max_age  # type: ignore[method-assign]

    @app.after_request  # runs before Compress's (registered earlier)
    def _static(response: Response) -> Response:
        if request.endpoint != "static" or response.status_code != 200:
            return response
        if request.args.get("v"):
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        if response.direct_passthrough and response.mimetype in COMPRESSED:
            # Read the file now: compressed as a whole (any algorithm the browser takes), with
            # the file closed when the answer is, instead of a stream of chunks.
            response.direct_passthrough = False
            response.make_sequence()
        return response

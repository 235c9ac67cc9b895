"""Where a page may send the browser next: only a path of this site, parsed and rebuilt.

A ``next`` parameter or a Referer is the client's text. Browsers drop tabs and newlines inside a
URL and read a backslash as a slash, so ``/\t/evil.example`` or ``/\\evil.example`` would leave the
site; and a CR/LF in a Location header is refused by the server (a 500). So any control, space or
format character (bidi marks included) or backslash makes the target unusable, and what is used
is rebuilt from its parsed path and query, never echoed.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..text import plain_text


def _clean(text: str) -> bool:
    return plain_text(text) and not any(ch == "\\" or ch.isspace() for ch in text)


def local_path(target: str | None, *, host: str | None = None) -> str | None:
    """``target`` as a path (with its query) on this site, or None when it is anything else.
    With ``host`` (for a Referer) an absolute http(s) URL of that very host is accepted too."""
    if not target or len(target) > 2000 or not _clean(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if host is None or parts.scheme not in ("http", "https") or parts.netloc != host:
            return None
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return urlunsplit(("", "", parts.path, parts.query, ""))

"""Rules for text the service stores and shows, used by every layer."""

from __future__ import annotations

import unicodedata


def storable(text: str) -> bool:
    """Text both databases can keep: no NUL (PostgreSQL refuses it), no unpaired surrogates
    (not encodable as UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invisible(ch: str) -> bool:
    # Cc: control characters (CR/LF break headers, ESC drives terminals); Cf: format characters
    # (U+202E, a right-to-left override, makes "invoice\u202efdp.exe" read as "invoiceexe.pdf").
    return unicodedata.category(ch) in ("Cc", "Cf")


def plain_text(text: str) -> bool:
    """A name as people read it: storable, without control or format characters."""
    return storable(text) and not any(_invisible(ch) for ch in text)


def without_controls(text: str) -> str:
    """``text`` without control and format characters (for names stored before they were refused)."""
    return "".join(ch for ch in text if not _invisible(ch))

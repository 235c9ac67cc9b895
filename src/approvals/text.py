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


class Message(str):
    """A message for people that keeps its English template and values: the API sends the English
    text (this string), the pages look the template up in their catalogue and fill it in."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Message:
        self = super().__new__(cls, template.format(**values) if values else template)
        self.template, self.values = template, values
        return self

    def as_json(self) -> dict[str, object]:
        """To keep beside the English where it is stored (an event's payload)."""
        values = {k: v.as_json() if isinstance(v, Message) else str(v) for k, v in self.values.items()}
        return {"template": self.template, "values": values}

    @classmethod
    def from_json(cls, stored: object) -> Message | None:
        if not isinstance(stored, dict) or not isinstance(stored.get("template"), str):
            return None
        values = stored.get("values")
        if not isinstance(values, dict):
            values = {}
        values = {k: (cls.from_json(v) or "") if isinstance(v, dict) else v for k, v in values.items()}
        try:
            return cls(stored["template"], **values)
        except (KeyError, IndexError, ValueError):
            return None


def N_(text: str) -> str:  # noqa: N802 - the gettext convention
    """Marks a word or template for the catalogue where it is written (``make catalog``), for text
    translated later, where it is shown."""
    return text


def msg(template: str, **values: object) -> Message:
    """A translatable message: ``msg("{name} is not a date", name=name)``. ``make catalog`` finds
    each template, so write it as a literal."""
    return Message(template, **values)

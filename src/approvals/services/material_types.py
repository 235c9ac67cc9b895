"""Which files may be attached, decided by their content (magic bytes), never by their name alone.

``filetype`` recognises the binary formats; ASCII and binary DXF (drawings exchanged as text) are
recognised here because no library does. The name's extension must then agree with the content,
so an executable renamed ``report.pdf`` is refused, and so is a PDF named ``plan.dwg``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import filetype

from ..text import msg


@dataclass(frozen=True)
class Kind:
    code: str  # pdf, docx, dwg, ...
    content_type: str
    extensions: tuple[str, ...]
    group: str  # what a form field may ask for: pdf, image, office, drawing, archive


ALLOWED: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind("pdf", "application/pdf", ("pdf",), "pdf"),
        Kind("jpg", "image/jpeg", ("jpg", "jpeg"), "image"),
        Kind("png", "image/png", ("png",), "image"),
        Kind("tif", "image/tiff", ("tif", "tiff"), "image"),
        Kind("doc", "application/msword", ("doc",), "office"),
        Kind("xls", "application/vnd.ms-excel", ("xls",), "office"),
        Kind("ppt", "application/vnd.ms-powerpoint", ("ppt",), "office"),
        Kind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("docx",), "office"),
        Kind("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",), "office"),
        Kind("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", ("pptx",), "office"),
        Kind("dwg", "image/vnd.dwg", ("dwg",), "drawing"),
        Kind("dxf", "image/vnd.dxf", ("dxf",), "drawing"),
        Kind("zip", "application/zip", ("zip",), "archive"),
    )
}
GROUPS = frozenset(k.group for k in ALLOWED.values())
# How many leading bytes identify a file (filetype reads at most 8 KiB itself).
SNIFF_BYTES = 8192

_ASCII_DXF = re.compile(rb"\A\s*(999\r?\n[^\n]*\n\s*)?0\r?\nSECTION\r?\n", re.ASCII)
_BINARY_DXF = b"AutoCAD Binary DXF\r\n\x1a\x00"


class RefusedFile(Exception):
    """The file's content is not an allowed type, or its name claims another type."""


def detect(head: bytes) -> Kind | None:
    """The allowed kind the leading bytes show, or None."""
    if head.startswith(_BINARY_DXF) or _ASCII_DXF.match(head):
        return ALLOWED["dxf"]
    guess = filetype.guess(head)
    if guess is None:
        return None
    code = {"jpeg": "jpg", "tiff": "tif"}.get(guess.extension, guess.extension)
    return ALLOWED.get(code)


def classify(name: str, head: bytes) -> Kind:
    """The kind of an upload named ``name`` starting with ``head``; raises RefusedFile."""
    kind = detect(head)
    if kind is None:
        allowed = ", ".join(sorted(ALLOWED))
        raise RefusedFile(f"{name}: the content is not an allowed type ({allowed})")
    extension = PurePath(name).suffix.lower().lstrip(".")
    if extension not in kind.extensions:
        raise RefusedFile(
            f"{name}: the content is {kind.code.upper()}, but the name says "
            f"{('.' + extension) if extension else 'no type'}"
        )
    return kind


def accepts(wanted: list[str] | None, kind: Kind) -> bool:
    """Whether a form field asking for ``wanted`` (kind codes or groups) accepts ``kind``."""
    return not wanted or kind.code in wanted or kind.group in wanted


def field_problems(schema: dict[str, Any]) -> list[str]:
    """What is wrong with a form's material fields (``"x-material": {"types": [...]}`` on an array
    property), for the publish check."""
    problems: list[str] = []
    for name, prop in ((schema.get("properties") or {}) if isinstance(schema, dict) else {}).items():
        if not isinstance(prop, dict) or "x-material" not in prop:
            continue
        spec = prop["x-material"]
        if not isinstance(spec, dict) or set(spec) - {"types"}:
            problems.append(
                msg("field {name!r}: x-material must be an object with an optional 'types' list", name=name)
            )
            continue
        if prop.get("type") != "array" or (prop.get("items") or {}).get("type") != "integer":
            problems.append(
                msg("field {name!r}: a material field is an array of integers (the material ids)", name=name)
            )
        types = spec.get("types", [])
        unknown = [t for t in types if t not in ALLOWED and t not in GROUPS] if isinstance(types, list) else [types]
        if unknown:
            problems.append(
                msg(
                    "field {name!r}: unknown material types {unknown}; use {value}",
                    name=name,
                    unknown=unknown,
                    value=", ".join(sorted(GROUPS | set(ALLOWED))),
                )
            )
    return problems


MATERIAL_KEY = "x-material"  # a form property filled with attached materials says so under this key


def material_fields(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Form properties that are filled with attached materials: name -> their ``x-material``."""
    properties = (schema or {}).get("properties") or {}
    return {
        name: prop[MATERIAL_KEY]
        for name, prop in properties.items()
        if isinstance(prop, dict) and isinstance(prop.get(MATERIAL_KEY), dict)
    }

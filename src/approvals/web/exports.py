"""Tables people take away: the project list and a project's steps as CSV or Excel (openpyxl).

A cell is text people typed (a project's name, a step's answer): one starting with = + - @ would
run as a formula when the file is opened, so it is written with a leading apostrophe, as Excel
itself marks text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from flask import Response
from openpyxl import Workbook

from . import local_time

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value as the sheet shows it: times in Shenzhen, numbers as numbers, text never a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def table(filename: str, fmt: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """``rows`` under ``header`` as a download named ``filename``.``fmt`` (csv or xlsx)."""
    cells = [[cell(v) for v in row] for row in rows]
    if fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.append(list(header))
        for row in cells:
            sheet.append(row)
        for column in sheet.columns:  # wide enough for what they hold (CJK counts double)
            longest = max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(c.value or "")) for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(60, longest + 2)
        out = io.BytesIO()
        book.save(out)
        body = out.getvalue()
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(cells)
        body = ("\ufeff" + text.getvalue()).encode()  # the BOM makes Excel read it as UTF-8
    response = Response(body, mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

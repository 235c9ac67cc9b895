"""Safe XML parsing of uploads."""

from __future__ import annotations

import pytest

from approvals.engine.bpmn_xml import parse_xml
from approvals.engine.errors import ModelRejected


@pytest.mark.parametrize(
    "data, words",
    [
        (b"<a><b></a>", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', "DOCTYPE"),
        (b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>', "DOCTYPE"),
        (b'<?xml version="1.0"?>\n<!doctype a><a/>', "DOCTYPE"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>', "UTF-8"),
        (b'<?xml version="1.0" encoding="Shift_JIS"?><a/>', "UTF-8"),
        ("<a>é</a>".encode("latin-1"), "UTF-8"),
        (b"<a>" + b"<b>" * 5000 + b"</b>" * 5000 + b"</a>", "not well-formed"),
        (b"<a>" + b"x" * 100 + b"</a>", "limit"),
    ],
)
def test_hostile_xml_is_refused(data, words):
    with pytest.raises(ModelRejected) as refused:
        parse_xml(data, max_bytes=100 if words == "limit" else 10**7)
    assert words in refused.value.problems[0].message


def test_plain_xml_with_bom_parses():
    tree = parse_xml("\ufeff<a>示例</a>".encode(), max_bytes=1000)
    assert tree.getroot().text == "示例"


@pytest.mark.parametrize("encoding", ["ASCII", "US-ASCII", "ISO-8859-1", "windows-1252"])
def test_a_pure_ascii_file_declaring_an_ascii_superset_parses(encoding):
    """Its bytes read the same in UTF-8 (interchange files often declare ISO-8859-1)."""
    tree = parse_xml(f'<?xml version="1.0" encoding="{encoding}"?><a>plain</a>'.encode(), max_bytes=1000)
    assert tree.getroot().text == "plain"

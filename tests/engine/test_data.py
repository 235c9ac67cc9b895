"""What task data may hold, and how dates and decimals cross into the script child and back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from approvals.engine.data import check_safe_data, from_jsonable, plain_json, to_jsonable, unstorable_text
from approvals.engine.errors import UnsafeData


def _nested(levels: int) -> list:
    value: list = [1]
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({1: "x"}, "data", "keys must be strings"),
        ({"typename": "BpmnWorkflow"}, "data.typename", "reserved"),
        ({"_engine": 1}, "data._engine", "reserved"),
        ({"a": {"b\x00": 1}}, "data.a.b\x00", "reserved"),
        ({"rate": float("nan")}, "data.rate", "finite"),
        ({"rate": float("inf")}, "data.rate", "finite"),
        ({"list": ["ok", "bad\x00"]}, "data.list[1]", "NUL"),
        ({"when": object()}, "data.when", "type object"),
        ({"deep": _nested(40)}, None, "deeper"),
    ],
)
def test_unsafe_data_is_refused_naming_the_path(value, path, reason):
    with pytest.raises(UnsafeData) as refused:
        check_safe_data(value)
    assert reason in str(refused.value)
    if path is not None:
        assert refused.value.path == path


def test_safe_data_passes():
    check_safe_data(
        {
            "n": 1,
            "x": 1.5,
            "ok": True,
            "none": None,
            "on": date(2026, 9, 21),
            "amount": Decimal("1.5"),
            "items": [{"name": "标段一"}],
            "pair": ("a", "b"),
        }
    )


def test_dates_and_decimals_survive_the_round_trip_to_the_script_child():
    value = {
        "on": date(2026, 9, 21),
        "at": datetime(2026, 9, 21, 10, tzinfo=UTC),
        "amount": Decimal("348000.00"),
        "tags": {"a"},
        "rows": [(1, Decimal("2"))],
        "plain": "text",
    }
    back = from_jsonable(to_jsonable(value))
    assert back == {**value, "tags": ["a"], "rows": [[1, Decimal("2")]]}


def test_plain_json_shows_dates_and_decimals_as_text():
    assert plain_json({"on": date(2026, 9, 21), "amount": Decimal("1.50"), "x": float("nan"), "s": {1}}) == {
        "on": "2026-09-21",
        "amount": "1.50",
        "x": None,
        "s": [1],
    }


def test_unstorable_text_names_the_first_bad_string_or_key():
    assert unstorable_text({"a": ["fine", "b\x00d"]}) == "a[1]"
    assert unstorable_text({"ok": {"k\ud800": 1}}) == "ok"
    assert unstorable_text({"all": "fine"}) is None


def test_the_tag_key_and_non_finite_decimals_are_refused():
    """Security round two, 16: {"$approvals": "decimal", "value": "sNaN"} must not become a Decimal."""
    forged = {"$approvals": "decimal", "value": "sNaN"}
    with pytest.raises(UnsafeData, match="reserved"):
        check_safe_data({"x": forged})
    with pytest.raises(UnsafeData, match="finite"):
        check_safe_data({"x": Decimal("sNaN")})
    with pytest.raises(UnsafeData, match="finite"):
        check_safe_data({"x": Decimal("Infinity")})
    # Through the script child and back, a forged tag stays a dict (which the check then refuses).
    back = from_jsonable(to_jsonable({"x": forged}))
    assert back == {"x": forged}

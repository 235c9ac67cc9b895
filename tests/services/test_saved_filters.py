"""Saved inbox views on both databases: kept per user, replaced by name, bounded, private."""

from __future__ import annotations

import pytest

from approvals.services import saved_filters
from approvals.services.errors import InvalidInput, NotFound
from tests.factories import user


def test_views_are_kept_per_user_replaced_by_name_and_private(database, people):
    with database.session() as session:
        pnr = user(session, "pnr")
        first = saved_filters.save_filter(session, pnr, "逾期", {"state": "open", "evil": "x", "q": "  "})
        assert first.query == {"state": "open"}  # only the inbox's own keys, none empty
        again = saved_filters.save_filter(session, pnr, "逾期", {"sort": "project"})
        assert again.id == first.id and again.query == {"sort": "project"}
        assert [f.name for f in saved_filters.list_filters(session, pnr)] == ["逾期"]
        assert saved_filters.list_filters(session, user(session, "water")) == []
        with pytest.raises(NotFound):
            saved_filters.delete_filter(session, user(session, "water"), first.id)
        saved_filters.delete_filter(session, pnr, first.id)
        assert saved_filters.list_filters(session, pnr) == []


@pytest.mark.parametrize("name", ["", "   ", "名" * 65, "a\u202eb"])
def test_a_bad_name_is_refused(database, people, name):
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        saved_filters.save_filter(session, user(session, "pnr"), name, {"q": "x"})
    assert list(refused.value.errors) == ["name"]


def test_a_user_keeps_a_bounded_number_of_views(database, people):
    with database.session() as session:
        pnr = user(session, "pnr")
        for n in range(saved_filters.MAX_FILTERS):
            saved_filters.save_filter(session, pnr, f"v{n}", {"q": str(n)})
        with pytest.raises(InvalidInput):
            saved_filters.save_filter(session, pnr, "one more", {})
        saved_filters.save_filter(session, pnr, "v0", {"q": "replaced"})  # replacing one is fine

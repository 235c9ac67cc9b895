from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..services import calendar_years
from .auth import SECURITY, authenticated, current_user
from .schemas import CalendarYearRequest, CalendarYearSchema

blp = Blueprint("calendar", __name__, url_prefix="/api/calendar", description="The working-day calendar")


@blp.get("/years/<int(min=2000, max=2100):year>")
@blp.doc(security=SECURITY)
@blp.response(200, CalendarYearSchema)
@authenticated
def get_year(year: int):
    """A year's weekdays off and weekend days worked, and whether official data backs it."""
    return calendar_years.year_view(get_session(), year)


@blp.put("/years/<int(min=2000, max=2100):year>")
@blp.doc(security=SECURITY)
@blp.arguments(CalendarYearRequest())
@blp.response(200, CalendarYearSchema)
@authenticated
def load_year(body, year: int):
    """Load or replace a year's official arrangement (admins), as the State Council published it.
    Every open step whose due date the year changes is recomputed in the same transaction
    (`task.due_moved` events); `moved` lists them."""
    session = get_session()
    loaded = calendar_years.load_year(session, {**body, "year": year}, current_user())
    return {**calendar_years.year_view(session, year), "moved": loaded.moved}

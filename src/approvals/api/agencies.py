from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..services.agencies import list_agencies
from .auth import SECURITY, authenticated
from .schemas import AgencySchema

blp = Blueprint("agencies", __name__, url_prefix="/api/agencies", description="The agency directory")


@blp.get("")
@blp.doc(security=SECURITY)
@blp.response(200, AgencySchema(many=True))
@authenticated
def agencies():
    """Every agency with its lane aliases."""
    return list_agencies(get_session())

from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..services import substitutes
from .auth import SECURITY, authenticated, current_user
from .schemas import SubstitutionQuery, SubstitutionRequest, SubstitutionSchema

blp = Blueprint(
    "substitutions", __name__, url_prefix="/api/substitutions", description="Out of office: who acts for whom, and when"
)


@blp.get("")
@blp.doc(security=SECURITY)
@blp.arguments(SubstitutionQuery(), location="query")
@blp.response(200, SubstitutionSchema(many=True))
@authenticated
def list_substitutions(query):
    """Substitutions for a user (default: you), including those where they stand in for others."""
    return substitutes.list_substitutions(get_session(), current_user(), query.get("user"))


@blp.post("")
@blp.doc(security=SECURITY)
@blp.arguments(SubstitutionRequest())
@blp.response(201, SubstitutionSchema)
@authenticated
def create_substitution(body):
    """Name a colleague of the same agency who acts for the absent user on the given dates."""
    return substitutes.create_substitution(
        get_session(),
        current_user(),
        substitute=body["substitute"],
        starts_on=body["starts_on"],
        ends_on=body["ends_on"],
        username=body.get("user"),
    )


@blp.delete("/<int:substitution_id>")
@blp.doc(security=SECURITY)
@blp.response(200, SubstitutionSchema)
@authenticated
def revoke_substitution(substitution_id: int):
    """End a substitution now (the absent user is back)."""
    return substitutes.revoke_substitution(get_session(), substitution_id, current_user())

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from ..db import get_session
from ..models import NotificationKind
from ..services import notifications
from .auth import SECURITY, authenticated, current_user
from .schemas import NotificationSettings

blp = Blueprint("me", __name__, url_prefix="/api/me", description="The signed-in user's own settings")


def _settings(user) -> dict[str, Any]:
    return {"email": user.email, "kinds": user.notify if user.notify is not None else list(NotificationKind)}


@blp.get("/notifications")
@blp.doc(security=SECURITY)
@blp.response(200, NotificationSettings)
@authenticated
def get_notifications() -> Any:
    """Your e-mail address and the notices you get (all of them until you choose)."""
    return _settings(current_user())


@blp.put("/notifications")
@blp.doc(security=SECURITY)
@blp.arguments(NotificationSettings())
@blp.response(200, NotificationSettings)
@authenticated
def put_notifications(body: dict[str, Any]) -> Any:
    """Choose your e-mail address and the notices you want; mails come in Chinese, one digest per
    pass of the worker, each notice with a link to its step."""
    user = notifications.set_preferences(get_session(), current_user(), body.get("email"), body["kinds"])
    return _settings(user)

"""The pages' language: Chinese (zh-CN, the default) or English, with gettext catalogues
(Flask-Babel). English text is the message id; ``translations/zh/LC_MESSAGES/messages.po`` holds
the Chinese, extracted and compiled by ``make catalog``. A word missing from the catalogue shows in
English rather than breaking the page, and the tests fail on it (tests/web/test_language.py).

Messages the services build with values (``text.msg``) are looked up by their template, then
filled in, so an error names its field in either language while the API keeps the English."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from enum import StrEnum
from typing import Any

from flask import Flask, current_app, g, request, session
from flask_babel import Babel, get_translations

from ..text import N_, Message

LANGUAGES = ("zh", "en")
TRANSLATIONS = "translations"  # beside this module

babel = Babel()


# Words shown from data rather than written in a template: states, outcomes, roles, event types
# and the like. They are listed here so that extraction puts them in the catalogue.
DATA_WORDS = (
    # instance and step states, incidents
    N_("running"),
    N_("completed"),
    N_("suspended"),
    N_("terminated"),
    N_("error"),
    N_("active"),
    N_("open"),
    N_("claimed"),
    N_("cancelled"),
    N_("all"),
    N_("resolved"),
    N_("unresolved"),
    N_("engine"),
    N_("timer"),
    N_("waiting"),
    N_("failed"),
    # outcomes the service and the bundled forms give
    N_("sent_back"),
    N_("approve"),
    N_("refuse"),
    N_("agree"),
    N_("disagree"),
    N_("accept"),
    N_("correct"),
    N_("issue"),
    N_("return"),
    N_("reject"),
    N_("revise"),
    # roles
    N_("staff"),
    N_("lead"),
    N_("owner"),
    N_("admin"),
    N_("observer"),
    # what a model's new version changed, and what a change touched
    N_("name"),
    N_("form"),
    N_("time_limit"),
    N_("clock"),
    N_("four_eyes"),
    N_("conditions"),
    N_("default flow"),
    N_("lane"),
    N_("type"),
    N_("documentation"),
    N_("event"),
    N_("script"),
    # the history's event types
    N_("instance.started"),
    N_("instance.completed"),
    N_("instance.error"),
    N_("instance.suspended"),
    N_("instance.resumed"),
    N_("instance.terminated"),
    N_("instance.migrated"),
    N_("instance.modified"),
    N_("task.created"),
    N_("task.claimed"),
    N_("task.unclaimed"),
    N_("task.assigned"),
    N_("task.completed"),
    N_("task.cancelled"),
    N_("task.sent_back"),
    N_("task.delegated"),
    N_("task.recalled"),
    N_("task.escalated"),
    N_("task.due_moved"),
    N_("reminder.acknowledged"),
    N_("material.uploaded"),
    N_("material.withdrawn"),
    N_("comment.added"),
    N_("timer.fired"),
    N_("timer.failed"),
    N_("timer.moved"),
    N_("incident.resolved"),
    N_("incident.retried"),
    N_("definition.published"),
    N_("calendar.loaded"),
    N_("substitution.created"),
    N_("substitution.revoked"),
    # HTTP errors the pages show as pages (Werkzeug's names)
    N_("Bad Request"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Request Entity Too Large"),
    N_("Internal Server Error"),
    N_("yes"),
    N_("no"),
    # what an admin changed of a user
    N_("field:agency"),
    N_("field:role"),
    N_("field:display_name"),
    N_("field:active"),
    N_("user.created"),
    N_("user.changed"),
    N_("user.password_reset"),
    # notices people get by e-mail
    N_("notify:arrived"),
    N_("notify:due_soon"),
    N_("notify:overdue"),
    N_("notify:sent_back"),
    N_("notify:assigned"),
    N_("notify:substitute"),
    N_("notify:decided"),
    N_("notification.sent"),
    # webhooks
    N_("delivery:pending"),
    N_("delivery:delivered"),
    N_("delivery:dead"),
    N_("webhook.created"),
    N_("webhook.deleted"),
    N_("webhook.replayed"),
    # a lifecycle's stages
    N_("stage:done"),
    N_("stage:current"),
    N_("stage:pending"),
    # the inbox's orders
    N_("sort:due"),
    N_("sort:arrival"),
    N_("sort:project"),
    # what a form field must be (services/forms.py)
    N_("list"),
    N_("email"),
    N_("date-time"),
    N_("uri"),
)


def language() -> str:
    chosen = session.get("lang") or request.cookies.get("lang")
    return chosen if chosen in LANGUAGES else "zh"


def translate(text: str | None, **values: object) -> str:
    """``text`` in the page's language (a ``Message``: its template translated, then filled; a
    template from a page: filled with ``values``)."""
    if not text:
        return text or ""
    if values:
        return translate(Message(text, **values))
    if isinstance(text, Message):
        # values that are words of the service (a state, an outcome) are translated too
        values = {name: translate(v) if isinstance(v, Message | StrEnum) else v for name, v in text.values.items()}
        return _lookup(text.template).format(**values)
    return _lookup(text)


def translated(data: Any) -> Any:
    """JSON for a page's script with each service message in it translated (other text as is)."""
    if isinstance(data, Message):
        return translate(data)
    if isinstance(data, dict):
        return {key: translated(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [translated(value) for value in data]
    if is_dataclass(data) and not isinstance(data, type):
        return translated(asdict(data))
    return data


def said(payload: dict[str, Any]) -> str:
    """What an event of the history says in words: its opinion, reason or comment (a reason the
    service gave, such as why a step was cancelled, in the page's language)."""
    stored = Message.from_json(payload.get("reason_message"))
    if stored is not None:
        return translate(stored)
    return str(payload.get("opinion") or payload.get("reason") or payload.get("text") or "")


def _lookup(text: str) -> str:
    found = _catalogue().ugettext(text)
    missed = current_app.extensions.get("approvals_untranslated")
    if missed is not None and found == text and language() == "zh":
        missed.add(text)  # the tests' record (None, so nothing grows, unless they ask for it)
    return found


def _catalogue() -> Any:
    """The request's catalogue, found once: Flask-Babel's ``gettext`` finds the same one (it keeps
    it for the request too) through three context lookups on each call, 6 µs against 0.1 µs for
    the lookup itself, and a page shows about a hundred words."""
    if "approvals_catalogue" not in g:
        g.approvals_catalogue = get_translations()
    return g.approvals_catalogue


def init_app(app: Flask) -> None:
    import os

    app.config["BABEL_TRANSLATION_DIRECTORIES"] = os.path.join(os.path.dirname(__file__), TRANSLATIONS)
    babel.init_app(app, locale_selector=lambda: "zh" if language() == "zh" else "en")
    app.extensions.setdefault("approvals_untranslated", None)
    app.jinja_env.globals.update(_=translate, said=said)

"""Notifications by e-mail through a real SMTP server on this machine (aiosmtpd), on both
databases: one digest per person, only what they asked for, in Chinese with links; due-soon and
overdue notices once; each mail also an event a webhook can pass on."""

from __future__ import annotations

import email
from datetime import timedelta
from email.policy import default

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import select

from approvals.models import Event, Task, TaskState, WebhookDelivery
from approvals.services import dispatch, notifications, tasks, webhooks
from approvals.services.errors import InvalidInput
from tests.factories import complete, start, user
from tests.helpers import SUBMISSION
from tests.processes import free_port


class Inbox:
    def __init__(self):
        self.mails: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.mails.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.mails if m["To"] == address]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def settings_for(port: int) -> dispatch.Settings:
    mail = notifications.MailSettings(
        host="127.0.0.1", port=port, sender="approvals@example.org", base_url="https://sp.example"
    )
    return dispatch.Settings(hosts=frozenset(), attempts=3, retry_seconds=1, timeout_seconds=2, mail=mail)


def addresses(database, **wanted):
    with database.session() as session:
        for username, kinds in wanted.items():
            notifications.set_preferences(session, user(session, username), f"{username}@example.org", kinds)


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_steps_arriving_make_one_digest_per_person_in_chinese_with_links(database, people, sample, smtp):
    inbox, port = smtp
    every = list(notifications.KINDS)
    addresses(database, pnr=every, pnr2=["assigned"], water=every)
    with database.session() as session:
        for code in ("P-1", "P-2"):
            _instance, steps = start(session, "sample_review", code=code)
            complete(session, steps[0], SUBMISSION, "hq")
    dispatch.run_pass(database, settings_for(port))
    (mail,) = inbox.to("pnr@example.org")  # two steps arrived: one mail
    assert mail["Subject"] == "【项目审批】新到达的待办 2 项"
    body = text_of(mail)
    assert "P-1" in body and "P-2" in body and "https://sp.example/tasks/" in body
    assert inbox.to("pnr2@example.org") == []  # asked only for assignments
    assert len(inbox.to("water@example.org")) == 1
    dispatch.run_pass(database, settings_for(port))
    assert len(inbox.mails) == 2  # nothing twice
    with database.session() as session:
        sent = session.scalars(select(Event).where(Event.type == "notification.sent")).all()
        assert sorted(e.payload["username"] for e in sent) == ["pnr", "water"]


def test_assignments_and_deadlines_are_told_to_the_holder_once(database, people, sample, smtp):
    inbox, port = smtp
    addresses(database, pnr2=["assigned", "due_soon", "overdue"])
    with database.session() as session:
        _instance, steps = start(session, "sample_review")
        opened = complete(session, steps[0], SUBMISSION, "hq")
        review = next(t for t in opened if t.bpmn_id == "review_planning")
        tasks.assign_task(session, review.id, "pnr2", user(session, "pnr_lead"))
        review_id, due = review.id, review.due_at
    dispatch.run_pass(database, settings_for(port))
    (assigned,) = inbox.to("pnr2@example.org")
    assert "分派给您" in assigned["Subject"] and "pnr_lead" in text_of(assigned)
    with time_machine.travel(due - timedelta(days=1), tick=False):
        dispatch.run_pass(database, settings_for(port))
        dispatch.run_pass(database, settings_for(port))
    soon = inbox.to("pnr2@example.org")[1:]
    assert len(soon) == 1 and "即将到期" in soon[0]["Subject"] and f"/tasks/{review_id}" in text_of(soon[0])
    with time_machine.travel(due + timedelta(hours=1), tick=False):
        dispatch.run_pass(database, settings_for(port))
        dispatch.run_pass(database, settings_for(port))
    late = inbox.to("pnr2@example.org")[2:]
    assert len(late) == 1 and "已超期" in late[0]["Subject"]
    with database.session() as session:
        assert session.get(Task, review_id).state == TaskState.CLAIMED


def test_a_sent_mail_is_an_event_a_webhook_can_pass_on(database, people, sample, smtp):
    inbox, port = smtp
    addresses(database, pnr=["arrived"])
    with database.session() as session:
        webhooks.create_webhook(
            session,
            user(session, "admin"),
            url="http://127.0.0.1:9/sms",
            event_types=["notification.*"],
            secret=None,
            agency_code=None,
            hosts={"127.0.0.1"},
        )
        _instance, steps = start(session, "sample_review")
        complete(session, steps[0], SUBMISSION, "hq")
    dispatch.run_pass(database, settings_for(port))
    dispatch.fan_out(database)  # the mail's own event, for the SMS gateway's webhook
    with database.session() as session:
        (delivery,) = session.scalars(select(WebhookDelivery)).all()
        assert delivery.event.type == "notification.sent" and delivery.event.payload["username"] == "pnr"


def test_preferences_name_the_field_at_fault(database, people):
    with database.session() as session, pytest.raises(InvalidInput) as refused:
        notifications.set_preferences(session, user(session, "pnr"), "not an address", ["arrived", "gossip"])
    assert sorted(refused.value.errors) == ["email", "kinds"]


def test_without_an_smtp_host_nobody_is_notified(database, people, sample):
    assert notifications.MailSettings.of({"SMTP_HOST": ""}) is None
    with database.session() as session:
        _instance, steps = start(session, "sample_review")
        complete(session, steps[0], SUBMISSION, "hq")
    dispatch.run_pass(database, dispatch.Settings.of({}))
    with database.session() as session:
        assert session.scalars(select(Event).where(Event.type == "notification.sent")).all() == []
        assert session.scalars(select(Event).where(Event.type == "task.created")).all()  # there was news

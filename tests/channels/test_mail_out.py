"""Outgoing mail over a real SMTP server on loopback: what is mailed, what never is, and
what happens when the server is down (retries with back-off, then failed, then an
admin's retry)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kb import ticket_work as work
from kb.channel_models import OutboundEmail
from kb.db import utcnow
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.mail_out import retry_failed
from kb.mail_send import BACKOFF_MINUTES, MAX_ATTEMPTS, MailSettings, SMTPTransport, send_due
from kb.notifications import notify
from kb.tickets import create_ticket
from tests.channels.smtp_fixture import deliver, free_port

MAIL_FROM = "Example Support <support@help.example>"
MARKER = "ZQX-note-only-51c"


@pytest.fixture
def people(make_user):
    return {"alice": make_user(), "agent": make_user("agent"), "admin": make_user("admin")}


@pytest.fixture
def ticket(session, people):
    t = create_ticket(session, people["alice"], title="Printer jams", description="Every second page jams")
    session.commit()
    return t


def outbox(session, **filters):
    session.rollback()  # end our read snapshot: the sender committed in its own session
    return session.query(OutboundEmail).filter_by(**filters).order_by(OutboundEmail.id).all()


def test_public_reply_is_mailed_over_smtp(app, session, smtp_server, people, ticket):
    smtp_server.configure(app, MAIL_FROM=MAIL_FROM, BASE_URL="https://help.example")
    work.reply(session, people["agent"], ticket, "Please open tray 2 <b>and</b> remove the paper.")
    session.commit()
    row = outbox(session, kind="reply", user_id=people["alice"].id)[0]
    assert row.status == "pending" and ticket.mail_tag in row.subject

    assert deliver(app) == {"sent": 2, "failed": 0, "retry": 0}  # "received" and the reply
    received = {m.message["Message-ID"]: m for m in smtp_server.messages}
    mail = received[f"<{row.message_id}@help.example>"]
    msg = mail.message
    assert mail.rcpt_tos == [people["alice"].email] and mail.mail_from == "support@help.example"
    assert ticket.mail_tag in msg["Subject"] and msg["From"] == MAIL_FROM
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Reply-To"] == "support@help.example"
    assert "Please open tray 2 <b>and</b> remove the paper." in mail.text()
    assert f"Open the ticket: https://help.example/tickets/{ticket.id}" in mail.text()
    assert "&lt;b&gt;and&lt;/b&gt;" in mail.html() and "<b>" not in mail.html()
    # threaded under the ticket's first mail (the "received" notice)
    first = outbox(session, kind="received")[0]
    assert msg["In-Reply-To"] == f"<{first.message_id}@help.example>"
    sent = outbox(session, id=row.id)[0]
    assert sent.status == "sent" and sent.sent_at is not None and sent.attempts == 1
    assert deliver(app)["sent"] == 0  # nothing is sent twice


def test_internal_note_is_never_mailed(app, session, smtp_server, people, ticket):
    smtp_server.configure(app)
    before = len(outbox(session))
    work.reply(session, people["agent"], ticket, f"Suspect the fuser. {MARKER}", internal=True)
    session.commit()
    rows = outbox(session)
    assert len(rows) == before
    assert not [r.id for r in rows if MARKER in r.subject + r.body + r.links]
    deliver(app)
    assert smtp_server.messages and not [m for m in smtp_server.messages if MARKER in m.message.as_string()]


def test_nothing_is_sent_without_an_smtp_host(app, session, people, ticket):
    app.config["SMTP_HOST"] = ""
    assert deliver(app) == {"sent": 0, "failed": 0, "retry": 0}
    assert [r.status for r in outbox(session)] == ["pending"]


def _settings(app) -> MailSettings:
    return MailSettings.from_config(app.config)


def test_server_down_retries_with_backoff_then_fails_then_admin_retries(app, session, smtp_server, people):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=2)  # nothing listens
    notify(session, people["alice"].id, "reply", "Something for Alice")
    session.commit()
    row = outbox(session)[0]
    t0 = utcnow()
    with SMTPTransport(_settings(app)) as transport:
        assert send_due(session, transport, _settings(app), now=t0) == {"sent": 0, "failed": 0, "retry": 1}
    session.commit()
    row = outbox(session, id=row.id)[0]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error and str(app.config["SMTP_PORT"]) in row.last_error
    assert row.next_attempt_at == t0 + timedelta(minutes=BACKOFF_MINUTES[0])

    # not due yet: left alone
    with SMTPTransport(_settings(app)) as transport:
        assert send_due(session, transport, _settings(app), now=t0 + timedelta(seconds=30))["retry"] == 0
    for attempt in range(2, MAX_ATTEMPTS + 1):
        when = outbox(session, id=row.id)[0].next_attempt_at
        with SMTPTransport(_settings(app)) as transport:
            counts = send_due(session, transport, _settings(app), now=when)
        session.commit()
        assert counts == ({"sent": 0, "failed": 1, "retry": 0} if attempt == MAX_ATTEMPTS
                          else {"sent": 0, "failed": 0, "retry": 1})
    row = outbox(session, id=row.id)[0]
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)

    with pytest.raises(PermissionDenied):
        retry_failed(session, people["agent"], [row.id])
    with pytest.raises(NotFound):
        retry_failed(session, people["admin"], [row.id + 999])
    assert retry_failed(session, people["admin"], [row.id]) == 1
    session.commit()
    row = outbox(session, id=row.id)[0]
    assert (row.status, row.attempts) == ("pending", 0)

    smtp_server.configure(app)  # the server is back
    assert deliver(app) == {"sent": 1, "failed": 0, "retry": 0}
    assert smtp_server.messages[0].rcpt_tos == [people["alice"].email]
    assert outbox(session, id=row.id)[0].status == "sent"
    with pytest.raises(ValidationError):
        retry_failed(session, people["admin"], [row.id])  # already sent


def test_a_refused_recipient_fails_at_once_and_does_not_stop_the_others(app, session, smtp_server, make_user):
    smtp_server.configure(app)
    bounce, fine = make_user(email="bounce@example.test"), make_user(email="fine@example.test")
    notify(session, bounce.id, "reply", "To an address that does not exist")
    notify(session, fine.id, "reply", "To a good address")
    session.commit()
    assert deliver(app) == {"sent": 1, "failed": 1, "retry": 0}
    failed, sent = outbox(session)
    assert failed.status == "failed" and "550" in failed.last_error
    assert sent.status == "sent" and [m.rcpt_tos for m in smtp_server.messages] == [["fine@example.test"]]


def test_a_claimed_mail_is_not_sent_by_a_second_sender(app, session, smtp_server, people):
    """Two senders (worker and CLI) at once: the second finds the row claimed."""
    smtp_server.configure(app)
    notify(session, people["alice"].id, "reply", "Only once")
    session.commit()
    row = outbox(session)[0]
    row.attempts, row.next_attempt_at = 1, utcnow() + timedelta(minutes=10)  # what a claim does
    session.commit()
    assert deliver(app)["sent"] == 0 and smtp_server.messages == []


def test_resolved_mail_links_carry_a_token_only_for_confirm_and_reopen(app, session, smtp_server, people, ticket):
    smtp_server.configure(app, BASE_URL="https://help.example")
    agent = people["agent"]
    work.acknowledge(session, agent, ticket, planned_actions="Check", expected_completion_at=utcnow() + timedelta(1))
    work.resolve(session, agent, ticket, "Replaced the roller")
    session.commit()
    row = outbox(session, kind="resolved")[0]
    assert "?t=" not in row.links  # stored without tokens: they are made when sending
    assert [link["path"] for link in json.loads(row.links)][:2] == [f"/tickets/{ticket.id}/mail/confirm",
                                                                    f"/tickets/{ticket.id}/mail/reopen"]
    deliver(app)
    text = next(m for m in smtp_server.messages if "resolved" in m.message["Subject"]).text()
    assert f"https://help.example/tickets/{ticket.id}/mail/confirm?t=" in text
    assert f"https://help.example/tickets/{ticket.id}/mail/reopen?t=" in text
    assert f"Open the ticket: https://help.example/tickets/{ticket.id}" in text.splitlines()  # no token here


def test_non_ascii_names_and_titles_survive_the_trip(app, session, smtp_server, make_user):
    smtp_server.configure(app, MAIL_FROM="帮助台 <support@help.example>")
    zhang = make_user(name="张伟")
    ticket = create_ticket(session, zhang, title="打印机卡纸", description="第二页总是卡住")
    session.commit()
    assert deliver(app)["sent"] == 1
    msg = smtp_server.messages[0].message
    assert "打印机卡纸" in msg["Subject"] and ticket.mail_tag in msg["Subject"]
    assert msg["To"].addresses[0].display_name == "张伟" and msg["From"].addresses[0].display_name == "帮助台"

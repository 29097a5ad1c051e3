"""`flask intake email` (a message piped by the mail server) and the admin page for
incoming mail: the log, the quarantine, raw download, "dealt with" and "take in again"."""
from __future__ import annotations

from sqlalchemy import func, select

from kb.channel_models import InboundEmail, TicketFollower
from kb.mail_in import MailSettings, process_message
from kb.ticket_messages import TicketMessage
from kb.tickets import Ticket, create_ticket
from tests.channels.test_mail_in import mail
from tests.conftest import csrf_token_from


def pipe(app, raw: bytes):
    return app.test_cli_runner().invoke(args=["intake", "email"], input=raw)


def test_intake_email_reads_standard_input(app, session):
    result = pipe(app, mail(subject="Piped in"))
    assert result.exit_code == 0, result.output
    ticket = session.scalar(select(Ticket))
    assert ticket.title == "Piped in" and ticket.channel == "email"
    assert result.output.startswith(f"ticket {ticket.reference}: new contact registered")
    again = pipe(app, b"\x00\x01 garbage")
    assert again.exit_code == 0 and again.output.startswith("quarantined: unreadable")
    empty = pipe(app, b"")
    assert empty.exit_code == 1 and "No message" in empty.output


def quarantined(session, app, raw: bytes, **limits) -> InboundEmail:
    settings = MailSettings(**{**MailSettings.from_config(app.config).__dict__, **limits})
    outcome = process_message(session, raw, settings)
    session.commit()
    return session.get(InboundEmail, outcome.inbound_id)


def test_only_admins_see_incoming_mail(client, login, make_user):
    assert client.get("/admin/mail/").status_code == 404
    login(make_user("agent"))
    assert client.get("/admin/mail/").status_code == 403
    assert client.get("/admin/mail/1/raw").status_code == 403


def test_quarantine_is_listed_with_its_reason_and_the_raw_message_downloads_safely(app, session, client, login,
                                                                                   make_user):
    raw = mail("<script>alert(1)</script>" + "x" * 3000, subject="Too big <b>bold</b>")
    row = quarantined(session, app, raw, max_bytes=1000)
    pipe(app, mail(subject="A fine one"))
    login(make_user("admin"))
    page = client.get("/admin/mail/?status=attention").get_data(as_text=True)
    assert "larger than the 1000 bytes limit" in page and "Too big &lt;b&gt;bold&lt;/b&gt;" in page
    assert "A fine one" not in page
    assert "A fine one" in client.get("/admin/mail/?status=ticket").get_data(as_text=True)
    resp = client.get(f"/admin/mail/{row.id}/raw")
    assert resp.status_code == 200 and resp.data == raw
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.mimetype == "message/rfc822" and resp.headers["X-Content-Type-Options"] == "nosniff"
    ticket_row = session.scalar(select(InboundEmail).where(InboundEmail.status == "ticket"))
    assert client.get(f"/admin/mail/{ticket_row.id}/raw").status_code == 404  # only problems are kept


def test_take_in_again_after_raising_the_limit_and_mark_dealt_with(app, session, client, login, make_user):
    big = quarantined(session, app, mail("x" * 3000, subject="Big but fine"), max_bytes=1000)
    broken = quarantined(session, app, b"Subject: who?\r\n\r\nno sender")
    login(make_user("admin"))
    resp = client.post(f"/admin/mail/{big.id}/reprocess", follow_redirects=True)
    assert "Taken in again: New ticket." in resp.get_data(as_text=True)
    session.refresh(big)
    assert big.status == "ticket" and big.released_at is not None
    assert session.get(Ticket, big.ticket_id).title == "Big but fine"
    resp = client.post(f"/admin/mail/{broken.id}/reprocess", follow_redirects=True)
    assert "Quarantined" in resp.get_data(as_text=True)
    client.post(f"/admin/mail/{broken.id}/release")
    session.refresh(broken)
    assert broken.released_at is not None and broken.status == "quarantined"
    page = client.get("/admin/mail/?status=attention").get_data(as_text=True)
    assert "No messages here." in page


def test_refused_reply_goes_in_once_the_sender_follows_the_ticket(app, session, client, login, make_user):
    ann, carl = make_user(email="ann@example.test"), make_user(email="carl@example.test")
    ticket = create_ticket(session, ann, title="VPN", description="Down.")
    session.commit()
    row = quarantined(session, app, mail("Same here", sender=carl.email, subject=f"Re: {ticket.mail_tag}"))
    assert row.status == "refused"
    session.add(TicketFollower(ticket_id=ticket.id, user_id=carl.id))
    session.commit()
    login(make_user("admin"))
    client.post(f"/admin/mail/{row.id}/reprocess")
    session.refresh(row)
    assert row.status == "reply"
    assert session.scalar(select(TicketMessage.author_id)) == carl.id


def test_admin_actions_need_the_csrf_token(csrf_app, session, client, make_user):
    row = quarantined(session, csrf_app, b"Subject: who?\r\n\r\nno sender")
    admin = make_user("admin")
    client.post("/login", data={"email": admin.email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True))})
    assert client.post(f"/admin/mail/{row.id}/reprocess").status_code == 400
    assert client.post(f"/admin/mail/{row.id}/release").status_code == 400
    token = csrf_token_from(client.get("/admin/mail/").get_data(as_text=True))
    assert client.post(f"/admin/mail/{row.id}/release", data={"csrf_token": token}).status_code == 302
    assert session.scalar(select(func.count()).select_from(InboundEmail)
                          .where(InboundEmail.released_at.is_not(None))) == 1

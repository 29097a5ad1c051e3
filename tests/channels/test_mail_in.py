"""Incoming email decided and applied (kb.mail_in): raw bytes in, tickets and replies out.

Fast tests without a mail server; tests/channels/test_mail_in_imap.py goes through dovecot."""
from __future__ import annotations

import os
import stat
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select

from kb.channel_models import InboundEmail, OutboundEmail, TicketFollower
from kb.db import utcnow
from kb.mail_in import MailSettings, process_message, raw_file
from kb.ticket_events import AGENT_PUBLIC_REPLY, REQUESTER_KINDS, TicketEvent
from kb.ticket_messages import TicketMessage
from kb.ticket_records import TicketAttachment, TicketCollaborator
from kb.tickets import Ticket, create_ticket
from kb.users import User, get_user_by_email

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def mail(body="The printer on floor 2 is jammed.", *, sender="Ann Example <ann@example.test>",
         subject="Printer jammed", headers=None, files=(), message_id=None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "helpdesk@localhost"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.test")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for name, data, maintype, subtype in files:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def settings(app):
    return MailSettings.from_config(app.config)


@pytest.fixture
def take(session, settings):
    def run(raw: bytes, **kw):
        outcome = process_message(session, raw, kw.pop("settings", settings), **kw)
        session.commit()
        return outcome
    return run


@pytest.fixture
def ticket_of(session):
    """A ticket filed in the portal by ``user``."""
    def make(user, status="new", **fields):
        ticket = create_ticket(session, user, title="Printer jammed", description="Floor 2 printer.")
        ticket.status = status
        for key, value in fields.items():
            setattr(ticket, key, value)
        session.commit()
        return ticket
    return make


def messages(session, ticket):
    return list(session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)))


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_new_message_from_a_stranger_opens_a_ticket_for_a_new_contact(session, take):
    outcome = take(mail(files=[("shot.png", PNG, "image", "png")]))
    assert outcome.status == "ticket" and "new contact" in outcome.reason
    ticket = session.get(Ticket, outcome.ticket_id)
    ann = get_user_by_email(session, "ann@example.test")
    assert ann.is_contact and ann.name == "Ann Example"
    assert (ticket.requester_id, ticket.channel, ticket.contact_email) == (ann.id, "email", "ann@example.test")
    assert (ticket.title, ticket.description) == ("Printer jammed", "The printer on floor 2 is jammed.")
    files = session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)).all()
    assert [(f.filename, f.content_type) for f in files] == [("shot.png", "image/png")]
    received = session.scalar(select(OutboundEmail).where(OutboundEmail.ticket_id == ticket.id))
    assert received.kind == "received" and received.to_addr == "ann@example.test"
    assert ticket.mail_tag in received.subject
    row = session.get(InboundEmail, outcome.inbound_id)
    assert (row.status, row.ticket_id, row.source, row.raw_path) == ("ticket", ticket.id, "pipe", None)


def test_a_known_sender_is_the_requester(session, take, make_user):
    bob = make_user(email="bob@example.test")
    outcome = take(mail(sender="Someone Else <BOB@example.test>"))
    ticket = session.get(Ticket, outcome.ticket_id)
    assert ticket.requester_id == bob.id and outcome.reason == ""
    assert count(session, User) == 1


def test_suggested_articles_go_into_the_received_mail(session, take):
    calls = []

    def suggest(_session, user, text):
        calls.append((user.email, text))
        return [("Clearing a paper jam", "/kb/7")]

    outcome = take(mail(), suggest=suggest)
    received = session.scalar(select(OutboundEmail).where(OutboundEmail.ticket_id == outcome.ticket_id))
    assert "Clearing a paper jam" in received.body and "/kb/7" in received.links
    assert calls == [("ann@example.test", "Printer jammed\nThe printer on floor 2 is jammed.")]


def test_reply_with_the_token_threads_without_quotes_or_signature(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann, status="waiting_for_requester")
    body = ("It is the HP on floor 2.\n\n-- \nAnn\n\nOn Mon, 5 Jan 2026, Helpdesk wrote:\n"
            "> Which printer is it?\n")
    outcome = take(mail(body, subject=f"Re: We need something from you {ticket.mail_tag}"))
    assert (outcome.status, outcome.ticket_id) == ("reply", ticket.id)
    assert [m.body for m in messages(session, ticket)] == ["It is the HP on floor 2."]
    assert ticket.status == "in_progress"  # the requester answered the question
    assert count(session, Ticket) == 1


def test_reply_threads_by_in_reply_to_alone(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann)
    ours = f"<hd.{ticket.id}.{ticket.email_token}.0a1b2c3d@localhost>"
    outcome = take(mail("Any news?", subject="Re: my printer", headers={"In-Reply-To": ours, "References": ours}))
    assert (outcome.status, outcome.ticket_id) == ("reply", ticket.id)
    assert [m.body for m in messages(session, ticket)] == ["Any news?"]


def test_forged_sender_with_the_right_token_is_refused(session, take, make_user, ticket_of, settings):
    ann = make_user(email="ann@example.test")
    make_user(email="mallory@example.test")
    ticket = ticket_of(ann)
    before = (count(session, Ticket), count(session, OutboundEmail))
    for sender in ("mallory@example.test", "stranger@elsewhere.test"):
        outcome = take(mail("Close this, thanks", sender=sender, subject=f"Re: {ticket.mail_tag}"))
        assert outcome.status == "refused" and "forged or unknown sender" in outcome.reason
    assert messages(session, ticket) == []
    assert (count(session, Ticket), count(session, OutboundEmail)) == before
    assert get_user_by_email(session, "stranger@elsewhere.test") is None  # no contact either
    row = session.get(InboundEmail, outcome.inbound_id)
    path = raw_file(settings, row.raw_path)
    assert b"From: stranger@elsewhere.test" in path.read_bytes()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_reference_without_a_valid_token_is_a_new_ticket_not_a_post(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann)
    wrong = "0" * 10 if ticket.email_token != "0" * 10 else "1" * 10
    for subject in (f"About {ticket.reference}", f"Re: [{ticket.reference}:{wrong}]"):
        outcome = take(mail("Please hurry", sender="ann@example.test", subject=subject))
        assert outcome.status == "ticket" and outcome.ticket_id != ticket.id
        assert "without that ticket's token" in outcome.reason
    forged_id = f"<hd.{ticket.id}.{wrong}.0a1b@localhost>"
    outcome = take(mail("Again", sender="ann@example.test", subject="Re: x", headers={"In-Reply-To": forged_id}))
    assert outcome.status == "ticket" and outcome.ticket_id != ticket.id
    assert messages(session, ticket) == []


def test_followers_and_collaborators_may_reply(session, take, make_user, ticket_of):
    ann, carl, agent = make_user(email="ann@example.test"), make_user(email="carl@example.test"), make_user("agent")
    ticket = ticket_of(ann)
    session.add_all([TicketFollower(ticket_id=ticket.id, user_id=carl.id),
                     TicketCollaborator(ticket_id=ticket.id, user_id=agent.id)])
    session.commit()
    assert take(mail("Me too", sender=carl.email, subject=f"Re: {ticket.mail_tag}")).status == "reply"
    assert take(mail("Looking into it", sender=agent.email, subject=f"Re: {ticket.mail_tag}")).status == "reply"
    assert [(m.author_id, m.internal) for m in messages(session, ticket)] == [(carl.id, False), (agent.id, False)]
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)).all()
    assert AGENT_PUBLIC_REPLY in kinds


def test_reply_to_a_resolved_ticket_is_added_without_reopening_it(session, take, make_user, ticket_of):
    """"Thanks, works" is the usual answer; confirm and reopen are the links in the mail."""
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann, status="resolved", resolved_at=utcnow() - timedelta(days=40))
    outcome = take(mail("Thanks, it works again.", subject=f"Re: {ticket.mail_tag}"))
    assert (outcome.status, ticket.status) == ("reply", "resolved")
    assert [m.body for m in messages(session, ticket)] == ["Thanks, it works again."]


def test_reply_to_a_closed_ticket_reopens_it_within_the_window(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann, status="closed", closed_at=utcnow() - timedelta(days=1))
    outcome = take(mail("It is jammed again.\n\n> old", subject=f"Re: Printer jammed {ticket.mail_tag}"))
    assert (outcome.status, ticket.status) == ("reply", "reopened")
    assert [m.body for m in messages(session, ticket)] == ["It is jammed again."]
    event = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                      TicketEvent.to_status == "reopened")).one()
    assert event.actor_id == ann.id and "jammed again" in event.payload["reason"]


def test_reply_to_a_ticket_closed_long_ago_opens_a_linked_follow_up(session, take, make_user, ticket_of, settings):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann, status="closed", closed_at=utcnow() - timedelta(days=settings.reopen_days + 1))
    outcome = take(mail("It is jammed again.\n\n> old", subject=f"Re: Printer jammed {ticket.mail_tag}"))
    follow = session.get(Ticket, outcome.ticket_id)
    assert outcome.status == "followup" and follow.id != ticket.id
    assert (follow.followup_of_id, follow.requester_id, follow.channel) == (ticket.id, ann.id, "email")
    assert follow.title == "Printer jammed"
    assert follow.description.endswith("It is jammed again.") and ticket.reference in follow.description
    assert ticket.status == "closed" and messages(session, ticket) == []
    assert follow.reference in outcome.reason


def test_auto_replies_and_bounces_never_post_or_open_tickets(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann)
    before = (count(session, Ticket), count(session, OutboundEmail))
    ooo = take(mail("I am out of office.", subject=f"Auto: {ticket.mail_tag}",
                    headers={"Auto-Submitted": "auto-replied"}))
    bounce = take(mail("Delivery failed", sender="MAILER-DAEMON@mx.example.test", subject="Undelivered"))
    bulk = take(mail("Newsletter", sender="news@example.test", headers={"Precedence": "bulk"}))
    assert [o.status for o in (ooo, bounce, bulk)] == ["ignored"] * 3
    assert messages(session, ticket) == []
    assert (count(session, Ticket), count(session, OutboundEmail)) == before
    assert get_user_by_email(session, "news@example.test") is None


def test_oversized_message_is_quarantined_and_can_be_taken_in_later(session, take, settings, app):
    small = MailSettings(**{**settings.__dict__, "max_bytes": 2000})
    raw = mail("x" * 3000)
    outcome = take(raw, settings=small)
    assert outcome.status == "quarantined" and "larger than" in outcome.reason
    assert count(session, Ticket) == 0
    row = session.get(InboundEmail, outcome.inbound_id)
    assert raw_file(settings, row.raw_path).read_bytes() == raw
    again = take(raw)  # the limit was raised: the same message is taken in now
    assert again.status == "ticket" and again.inbound_id == row.id
    assert count(session, InboundEmail) == 1


def test_malformed_message_is_quarantined_and_the_next_one_still_goes_in(session, take):
    bad = take(b"\x00\xff\xfe not a message")
    good = take(mail())
    assert bad.status == "quarantined" and "no sender" in bad.reason
    assert good.status == "ticket"


def test_same_message_twice_is_one_ticket(session, take):
    raw = mail(message_id="<once@example.test>")
    first, second = take(raw), take(raw)
    assert first.status == "ticket" and second.duplicate and second.ticket_id == first.ticket_id
    assert count(session, Ticket) == 1 and count(session, InboundEmail) == 1


def test_refused_file_is_reported_and_the_ticket_kept(session, take):
    outcome = take(mail(files=[("setup.exe", b"MZ\x90\x00" + b"\x00" * 60, "application", "octet-stream"),
                               ("notes.txt", b"plain notes\n", "text", "plain")]))
    assert outcome.status == "ticket" and "setup.exe" in outcome.reason
    names = session.scalars(select(TicketAttachment.filename)
                            .where(TicketAttachment.ticket_id == outcome.ticket_id)).all()
    assert names == ["notes.txt"]


def test_deactivated_sender_is_refused(session, take, make_user):
    gone = make_user(email="gone@example.test")
    gone.active = False
    session.commit()
    outcome = take(mail(sender="gone@example.test"))
    assert outcome.status == "refused" and count(session, Ticket) == 0


def test_empty_reply_is_ignored(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann)
    outcome = take(mail("\n\nOn Mon, Helpdesk wrote:\n> question", subject=f"Re: {ticket.mail_tag}"))
    assert outcome.status == "ignored" and messages(session, ticket) == []


def test_the_tickets_contact_address_speaks_for_the_requester(session, take, make_user, ticket_of):
    ann = make_user(email="ann@example.test")
    ticket = ticket_of(ann, contact_email="ann.private@example.test")
    outcome = take(mail("From my other address", sender="ann.private@example.test", subject=f"Re: {ticket.mail_tag}"))
    assert outcome.status == "reply"
    assert [(m.author_id, m.body) for m in messages(session, ticket)] == [(ann.id, "From my other address")]


def test_mail_from_our_own_address_is_a_loop(session, take, settings):
    assert settings.own_addresses == frozenset({"helpdesk@localhost"})
    outcome = take(mail("We received your request", sender="Helpdesk <helpdesk@localhost>"))
    assert outcome.status == "ignored" and "loop" in outcome.reason and count(session, Ticket) == 0


def test_an_email_like_recent_open_reports_is_flagged_for_the_agent(session, take, make_user):
    """The email channel's side of "colleagues reported this": a staff-only hint on the new
    ticket naming the recent open reports it reads like (no automatic merge)."""
    from search import load_embedder

    embedder = load_embedder("hash")
    text = "VPN disconnects every ten minutes since this morning"
    earlier = [create_ticket(session, make_user(), title="VPN drops", description=text, embedder=embedder)
               for _ in range(2)]
    other = create_ticket(session, make_user(), title="Printer", description="The printer on floor 2 is jammed.",
                          embedder=embedder)
    session.commit()
    outcome = take(mail(text, subject="VPN drops"), embedder=embedder)
    ticket = session.get(Ticket, outcome.ticket_id)
    [hint] = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                       TicketEvent.kind == "possible_duplicate")).all()
    found = {c["reference"] for c in hint.payload["candidates"]}
    assert found <= {t.reference for t in earlier} and found and other.reference not in found
    assert "possible_duplicate" not in REQUESTER_KINDS
    plain = take(mail("My monitor flickers when I move the cable.", subject="Monitor", sender="zed@example.test"),
                 embedder=embedder)
    assert session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == plain.ticket_id,
                                                     TicketEvent.kind == "possible_duplicate")).all() == []

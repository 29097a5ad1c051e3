"""The email channel end to end against real servers on loopback, as the worker runs it:
a message in the IMAP mailbox (dovecot) becomes a ticket, the agent's reply goes out over
SMTP (aiosmtpd), the requester's answer to that mail lands on the same ticket, and the
same answer with someone else's From does not."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select

from kb import ticket_work
from kb.channel_models import InboundEmail
from kb.ticket_messages import TicketMessage
from kb.tickets import Ticket
from portal.mail_admin import fetch_mailbox
from tests.channels.smtp_fixture import deliver


def answer(to, body: str, sender: str) -> bytes:
    """A reply as a mail client writes it: Re: subject, In-Reply-To/References, quoted text."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to.message["From"]
    msg["Subject"] = "Re: " + to.message["Subject"]
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = to.message["Message-ID"]
    msg["References"] = to.message["Message-ID"]
    quoted = "\n".join("> " + line for line in to.text().splitlines())
    msg.set_content(f"{body}\n\nOn Monday the helpdesk wrote:\n{quoted}\n")
    return msg.as_bytes()


def test_mailbox_to_ticket_to_smtp_reply_and_back(app, session, make_user, imap_server, smtp_server):
    box = imap_server.mailbox()
    app.config.update(box.config())
    smtp_server.configure(app, MAIL_FROM="Helpdesk <helpdesk@corp.example>")
    agent = make_user("agent", name="Ada Agent")
    make_user("requester", name="Mallory", email="mallory@example.test")

    first = EmailMessage()
    first["From"], first["To"] = "Ann Example <ann@example.test>", "helpdesk@corp.example"
    first["Subject"], first["Message-ID"] = "VPN keeps dropping", make_msgid(domain="example.test")
    first.set_content("Since this morning the VPN drops every ten minutes.\n\n-- \nAnn, Finance")
    box.append(first.as_bytes())
    session.rollback()  # the worker's session takes SQLite's write lock
    assert fetch_mailbox(app) == {"fetched": 1, "ticket": 1}
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.channel == "email" and ticket.requester.email == "ann@example.test"
    assert ticket.title == "VPN keeps dropping" and "ten minutes" in ticket.description

    ticket_work.reply(session, agent, ticket, "Please restart the VPN client and tell us if it helps.")
    ticket_work.reply(session, agent, ticket, "Internal: gateway 3 flaps.", internal=True)
    session.commit()
    deliver(app)
    to_ann = [m for m in smtp_server.messages if m.rcpt_tos == ["ann@example.test"]]
    reply_mail = next(m for m in to_ann if "restart the VPN client" in m.text())
    assert ticket.mail_tag in reply_mail.message["Subject"]
    assert all("gateway 3" not in m.text() for m in smtp_server.messages)

    box.append(answer(reply_mail, "Restarted it, still drops.", "Ann Example <ann@example.test>"))
    box.append(answer(reply_mail, "Close this ticket, it is fixed.", "Mallory <mallory@example.test>"))
    session.rollback()
    assert fetch_mailbox(app) == {"fetched": 2, "reply": 1, "refused": 1}
    bodies = [m.body for m in session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id,
                                                                            TicketMessage.internal.is_(False))
                                              .order_by(TicketMessage.id))]
    assert bodies == ["Please restart the VPN client and tell us if it helps.", "Restarted it, still drops."]
    refused = session.scalars(select(InboundEmail).where(InboundEmail.status == "refused")).one()
    assert refused.from_addr == "mallory@example.test" and refused.ticket_id == ticket.id
    assert session.scalars(select(Ticket)).all() == [ticket]
    assert all(flags >= {"\\Seen"} for flags in box.flags().values())

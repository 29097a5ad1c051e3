"""Fetching a real IMAP mailbox (dovecot on loopback): commit first, then flag or delete;
oversized and broken messages are quarantined without blocking the ones behind them."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from kb.channel_models import InboundEmail
from kb.mail_fetch import ImapSettings, MailboxError, fetch_once
from kb.mail_in import MailSettings, raw_file
from kb.ticket_records import TicketAttachment
from kb.tickets import Ticket
from kb.users import get_user_by_email
from tests.channels.test_mail_in import PNG, mail


@pytest.fixture
def mailbox(imap_server, app):
    box = imap_server.mailbox()
    app.config.update(box.config())
    return box


def run(session, app, **mail_overrides):
    settings = MailSettings.from_config(app.config)
    if mail_overrides:
        settings = MailSettings(**{**settings.__dict__, **mail_overrides})
    return fetch_once(session, ImapSettings.from_config(app.config), settings, commit=session.commit)


def tickets(session) -> int:
    return session.scalar(select(func.count()).select_from(Ticket))


def test_new_message_becomes_a_ticket_and_is_flagged_seen_only_after_commit(session, app, mailbox):
    uid = mailbox.append(mail(files=[("shot.png", PNG, "image", "png")]))
    flags_at_commit = []

    def commit():
        session.commit()
        flags_at_commit.append(mailbox.flags()[uid])

    counts = fetch_once(session, ImapSettings.from_config(app.config), MailSettings.from_config(app.config),
                        commit=commit)
    assert counts == {"fetched": 1, "ticket": 1}
    assert flags_at_commit == [set()]              # committed while still unseen in the mailbox
    assert "\\Seen" in mailbox.flags()[uid]        # flagged after
    ticket = session.scalar(select(Ticket))
    assert ticket.channel == "email" and ticket.requester_id == get_user_by_email(session, "ann@example.test").id
    assert session.scalar(select(TicketAttachment.filename)) == "shot.png"
    assert run(session, app) == {}                 # nothing unseen is left


def test_failed_commit_leaves_the_message_unseen_and_undeleted(session, app, mailbox):
    app.config["IMAP_AFTER"] = "delete"
    uid = mailbox.append(mail())

    def broken_commit():
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    counts = fetch_once(session, ImapSettings.from_config(app.config), MailSettings.from_config(app.config),
                        commit=broken_commit)
    session.rollback()
    assert counts == {"fetched": 1, "errors": 1}
    assert mailbox.flags() == {uid: set()}
    assert tickets(session) == 0
    assert run(session, app) == {"fetched": 1, "ticket": 1}  # the next run takes it in
    assert mailbox.flags() == {}                              # and then deletes it


def test_oversized_and_malformed_are_quarantined_and_the_next_message_still_goes_in(session, app, mailbox):
    app.config["IMAP_AFTER"] = "delete"
    big = mailbox.append(mail("x" * 6000, subject="Huge log"))
    broken = mailbox.append(b"Subject: no sender at all\r\n\r\nwho am I?\r\n")
    good = mailbox.append(mail("Short one", subject="Small"))
    counts = run(session, app, max_bytes=4000)
    assert counts == {"fetched": 3, "quarantined": 2, "ticket": 1}
    rows = {r.subject: r for r in session.scalars(select(InboundEmail))}
    assert "larger than" in rows["Huge log"].reason and "still in the mailbox" in rows["Huge log"].reason
    kept = raw_file(MailSettings.from_config(app.config), rows["Huge log"].raw_path).read_bytes()
    assert b"Subject: Huge log" in kept and b"xxxx" not in kept   # only the headers were downloaded
    assert rows["Huge log"].size > 6000
    assert "no sender" in rows["no sender at all"].reason
    assert session.scalar(select(Ticket.title)) == "Small"
    flags = mailbox.flags()
    assert big in flags and "\\Seen" in flags[big] and "\\Deleted" not in flags[big]  # never deleted unread
    assert broken not in flags and good not in flags


def test_the_same_message_twice_is_one_ticket(session, app, mailbox):
    raw = mail(message_id="<twice@example.test>")
    first, second = mailbox.append(raw), mailbox.append(raw)
    assert run(session, app) == {"fetched": 2, "ticket": 1, "duplicate": 1}
    assert tickets(session) == 1
    assert all("\\Seen" in f for f in mailbox.flags().values())


def test_a_reply_in_the_mailbox_threads_and_a_forged_one_is_refused(session, app, mailbox, make_user):
    from kb.tickets import create_ticket

    ann = make_user(email="ann@example.test")
    make_user(email="mallory@example.test")
    ticket = create_ticket(session, ann, title="VPN down", description="Since this morning.")
    session.commit()
    mailbox.append(mail("Works again, thanks.\n\n> old", subject=f"Re: {ticket.mail_tag}"))
    mailbox.append(mail("Works again, thanks.", sender="mallory@example.test", subject=f"Re: {ticket.mail_tag}"))
    assert run(session, app) == {"fetched": 2, "reply": 1, "refused": 1}


def test_wrong_password_is_a_clear_error(session, app, mailbox):
    app.config["IMAP_PASSWORD"] = "wrong"
    with pytest.raises(MailboxError, match="refused the login"):
        run(session, app)


def test_intake_imap_command_and_the_worker_hook(session, app, mailbox):
    from portal.mail_admin import fetch_mailbox

    mailbox.append(mail(subject="From the command"))
    result = app.test_cli_runner().invoke(args=["intake", "imap"])
    assert result.exit_code == 0, result.output
    assert "ticket HD-" in result.output and "Fetched 1 message(s): 1 ticket." in result.output
    mailbox.append(mail(subject="From the worker"))
    session.rollback()  # the worker has a session of its own: let go of SQLite's lock
    assert fetch_mailbox(app) == {"fetched": 1, "ticket": 1}
    assert tickets(session) == 2
    from tests.channels.smtp_fixture import free_port

    app.config["IMAP_PORT"] = free_port()  # nothing listens there (a wrong password is tested above;
    assert "Could not connect" in fetch_mailbox(app)["error"]  # dovecot slows repeated failed logins)
    result = app.test_cli_runner().invoke(args=["intake", "imap"])
    assert result.exit_code == 1 and "Could not connect" in result.output

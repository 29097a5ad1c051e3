"""``flask intake``: intake sessions (sweep) and incoming email (a piped message, the IMAP
mailbox). The email commands exit 0 whenever the message was handled, including when it
was ignored, refused or quarantined (an admin sees those at /admin/mail); ``intake email``
exits 75 (EX_TEMPFAIL) only when it could not even record the message, so the mail server
keeps it and delivers it again later.
"""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from kb.intake import sweep_abandoned
from portal.extensions import db

group = AppGroup("intake", help="Intake sessions, deflection and incoming email.")
EX_TEMPFAIL = 75


@group.command("sweep")
def sweep() -> None:
    """Mark sessions with no outcome 30 minutes after their last activity as abandoned."""
    n = sweep_abandoned(db.session)
    db.session.commit()
    click.echo(f"Marked {n} intake session(s) abandoned.")


def describe(outcome) -> str:
    """One line: what became of the message, the ticket, and why."""
    text = f"{'duplicate (already taken in): ' if outcome.duplicate else ''}{outcome.status}"
    if outcome.reference:
        text += f" {outcome.reference}"
    if outcome.reason:
        text += f": {outcome.reason}"
    return text


@group.command("email")
@click.option("--file", "source", type=click.File("rb"), default="-", show_default="standard input",
              help="The raw message (RFC 5322), e.g. piped by the mail server.")
def email_command(source) -> None:
    """Take in one raw email: a new ticket, a reply to one, or a quarantined message."""
    from kb.mail_in import process_message, record_failure
    from portal.mail_admin import intake_options, mail_settings

    raw = source.read()
    if not raw:
        raise click.ClickException("No message: pipe a raw email on standard input.")
    settings = mail_settings(current_app)
    try:
        outcome = process_message(db.session, raw, settings, source="pipe", **intake_options())
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - quarantine it rather than lose it
        db.session.rollback()
        try:
            outcome = record_failure(db.session, raw, settings, exc, source="pipe")
            db.session.commit()
        except Exception as again:  # noqa: BLE001 - let the mail server keep it and retry
            db.session.rollback()
            click.echo(f"The message could not be recorded ({again}); the mail server should retry.", err=True)
            sys.exit(EX_TEMPFAIL)
    click.echo(describe(outcome))


@group.command("imap")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000),
              help="At most this many messages in this run.")
def imap_command(limit: int) -> None:
    """Fetch the unseen messages of the IMAP mailbox once (IMAP_* settings)."""
    from kb.mail_fetch import ImapSettings, MailboxError, fetch_once
    from portal.mail_admin import intake_options, mail_settings

    if not current_app.config.get("IMAP_HOST"):
        raise click.ClickException("HELPDESK_IMAP_HOST is not set: there is no mailbox to fetch.")

    def report(uid: str, outcome) -> None:
        click.echo(f"UID {uid}: {describe(outcome)}")

    try:
        counts = fetch_once(db.session, ImapSettings.from_config(current_app.config), mail_settings(current_app),
                            commit=db.session.commit, rollback=db.session.rollback, on_message=report,
                            limit=limit, **intake_options())
    except MailboxError as exc:
        raise click.ClickException(str(exc)) from exc
    fetched = counts.pop("fetched", 0)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(f"Fetched {fetched} message(s){': ' + summary if summary else ''}.")

"""``flask mail``: the outbox (send now, list, retry failed).

The background worker sends due mail on its own; ``flask mail send`` is for cron setups
(``HELPDESK_WORKER=off``) and for trying the SMTP settings. Running it while the worker
also sends is safe: each mail is claimed before it is sent (kb.mail_send).
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from kb.channel_models import OUTBOX_STATUSES
from kb.errors import NotFound, ValidationError
from kb.mail_out import list_outbox, retry_failed
from portal.extensions import db

group = AppGroup("mail", help="Outgoing mail: send the outbox, list it, retry failures.")


@group.command("send")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000), help="At most this many mails.")
def send(limit: int) -> None:
    """Send the mails that are due now."""
    from portal.outbox import send_outbox

    if not current_app.config.get("SMTP_HOST"):
        waiting = list_outbox(db.session, None, status="pending", per_page=1, system=True).total
        raise click.ClickException(f"HELPDESK_SMTP_HOST is not set: {waiting} mails wait in the outbox.")
    counts = send_outbox(current_app, limit=limit)
    click.echo(f"{counts['sent']} sent, {counts['retry']} will be retried, {counts['failed']} failed.")


@group.command("outbox")
@click.option("--status", type=click.Choice([*OUTBOX_STATUSES, "all"]), default=None,
              help="Only this status (default: pending and failed).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100))
def outbox(status: str | None, limit: int) -> None:
    """List the outbox: id, status, attempts, next attempt, recipient, subject, last error."""
    statuses = [None] if status == "all" else [status] if status else ["failed", "pending"]
    shown = 0
    for st in statuses:
        page = list_outbox(db.session, None, status=st, per_page=limit, system=True)
        for m in page.items:
            when = (m.sent_at if m.status == "sent" else m.next_attempt_at)
            click.echo(f"{m.id:>6} {m.status:8} {m.attempts:>2}x {when:%Y-%m-%d %H:%M} {m.to_addr:30} {m.subject}")
            if m.last_error and m.status != "sent":
                click.echo(f"{'':>6} error: {m.last_error.splitlines()[0][:200]}")
        shown += len(page.items)
        if page.total > len(page.items):
            click.echo(f"... and {page.total - len(page.items)} more {st or ''} mails.")
    if not shown:
        click.echo("The outbox is empty.")


@group.command("retry")
@click.option("--all", "all_failed", is_flag=True, help="Every failed mail.")
@click.argument("ids", nargs=-1, type=int)
def retry(all_failed: bool, ids: tuple[int, ...]) -> None:
    """Put failed mails back in the queue, due now (by ID, or --all failed ones)."""
    if all_failed == bool(ids):
        raise click.UsageError("Give mail IDs or --all (not both).")
    try:
        n = retry_failed(db.session, None, "all" if all_failed else list(ids), system=True)
    except (NotFound, ValidationError) as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{n} mails will be sent again.")

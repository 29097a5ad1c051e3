"""`flask tickets schedule`: one scheduler pass (reminders, escalations, auto-close).

The embedded default runs the same pass in the in-process worker every
``HELPDESK_SCHEDULER_SECONDS``; with ``HELPDESK_WORKER=off`` (or that setting at 0)
run this from cron or a job queue every minute instead. Running it twice is harmless.
"""
from __future__ import annotations

import click
from flask.cli import AppGroup

from kb.scheduler import run_scheduler
from portal.extensions import db

group = AppGroup("tickets", help="Tickets: the SLA scheduler.")


@group.command("schedule")
def schedule() -> None:
    """Send due reminders, escalate breaches and auto-close unanswered resolved tickets, once."""
    counts = run_scheduler(db.session, commit=db.session.commit)
    db.session.commit()
    click.echo(f"Checked {counts['checked']} tickets: {counts['reminders']} reminders, "
               f"{counts['escalations']} escalations, {counts['auto_closed']} auto-closed, "
               f"{counts['notifications']} notifications.")

"""`flask intake sweep`: close idle intake sessions as abandoned."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from kb.intake import sweep_abandoned
from portal.extensions import db

group = AppGroup("intake", help="Intake sessions and deflection.")


@group.command("sweep")
def sweep() -> None:
    """Mark sessions with no outcome 30 minutes after their last activity as abandoned."""
    n = sweep_abandoned(db.session)
    db.session.commit()
    click.echo(f"Marked {n} intake session(s) abandoned.")

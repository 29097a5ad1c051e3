"""A ticket's audit trail for team leads and admins: every event, with actor and time."""
from __future__ import annotations

from flask import render_template
from flask_login import login_required
from sqlalchemy import select

from kb import permissions
from kb.ticket_events import list_events
from kb.tickets import get_ticket
from kb.users import User
from portal.extensions import db
from portal.security import actor
from portal.tickets import bp
from portal.tickets.labels import describe_event


@bp.get("/<int:ticket_id>/audit")
@login_required
def audit(ticket_id: int):
    ticket = get_ticket(db.session, actor(), ticket_id)
    permissions.require(permissions.can_view_audit(actor(), ticket),
                        "The audit trail is for team leads and admins.")
    events = list_events(db.session, ticket)
    ids = {e.actor_id for e in events if e.actor_id}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    names = {uid: u.name for uid, u in users.items()}
    rows = [(e, users.get(e.actor_id), describe_event(e, names)) for e in events]
    return render_template("tickets/audit.html", ticket=ticket, rows=rows)

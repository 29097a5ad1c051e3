"""The ticket page's grouping actions (kb.duplicates): mark as duplicate, merge, declare an
incident, add to an incident, add members to one; and the timeline sentences of their events.

Every action goes through actions._run (form validation, CSRF, one commit, the page again
with the message next to the field on a ValidationError). A reference the agent may not
see reads as "not found" next to the field, like one that does not exist.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from kb import duplicates, permissions
from kb import ticket_events as ev
from kb.errors import NotFound, ValidationError
from portal.extensions import db
from portal.security import actor
from portal.tickets import bp
from portal.tickets.actions import _run

ANCHOR = "grouping"


def _target(ticket, text: str | None, field: str = "target"):
    """The ticket ``text`` names, once the actor is known to work ``ticket`` (a requester
    gets "not allowed", not a hint about which references exist)."""
    permissions.require(permissions.can_manage_incidents(actor()) and permissions.can_work_ticket(actor(), ticket),
                        _("Only support agents can group tickets."))
    try:
        return duplicates.resolve_reference(db.session, actor(), text, field)
    except NotFound:
        raise ValidationError(_("We could not find the ticket “%(ref)s”.", ref=(text or "").strip()), field) from None
    except ValidationError:
        raise ValidationError(_("Enter a ticket reference such as HD-2026-000123, or its number."), field) from None


@bp.post("/<int:ticket_id>/duplicate")
@login_required
def mark_duplicate(ticket_id: int):
    def act(ticket, form):
        duplicates.mark_duplicate(db.session, actor(), ticket, _target(ticket, form.target.data), form.note.data or "")
    return _run(ticket_id, "duplicate", act,
                _("Marked as a duplicate and closed; its requester now follows the other ticket."), ANCHOR)


@bp.post("/<int:ticket_id>/merge")
@login_required
def merge(ticket_id: int):
    def act(ticket, form):
        duplicates.merge_tickets(db.session, actor(), ticket, _target(ticket, form.target.data), form.note.data or "")
    return _run(ticket_id, "merge", act,
                _("Merged: the conversation, files and people moved to the other ticket."), ANCHOR)


@bp.post("/<int:ticket_id>/incident")
@login_required
def declare_incident(ticket_id: int):
    from portal.tickets.views import _embedder

    def act(ticket, form):
        duplicates.declare_incident(db.session, actor(), title=form.title.data, description=form.description.data,
                                    ticket_ids=[ticket.id], embedder=_embedder())
    return _run(ticket_id, "incident", act, _("Incident declared; this ticket is part of it."), ANCHOR)


@bp.post("/<int:ticket_id>/add-to-incident")
@login_required
def add_to_incident(ticket_id: int):
    def act(ticket, form):
        duplicates.add_to_incident(db.session, actor(), _target(ticket, form.target.data), [ticket])
    return _run(ticket_id, "add_incident", act, _("Added to the incident."), ANCHOR)


@bp.post("/<int:ticket_id>/members")
@login_required
def add_members(ticket_id: int):
    def act(incident, form):
        refs = [r for r in re.split(r"[\s,;]+", form.tickets.data or "") if r]
        duplicates.add_to_incident(db.session, actor(), incident, [_target(incident, r, "tickets") for r in refs])
    return _run(ticket_id, "members", act, _("The tickets are part of this incident now."), ANCHOR)


def describe_grouping(event, names: dict[int, str], staff: bool) -> str | None:
    """The timeline sentence for the grouping kinds (None for the others). Requesters are
    not told other people's references, only that another report was linked or moved in."""
    k, d = event.kind, event.payload
    if k not in (ev.LINKED, ev.MERGED, ev.INCIDENT, ev.FOLLOWER):
        return None
    who = (names.get(event.actor_id) if event.actor_id else None) or str(_l("The system"))
    ref, action = d.get("reference", ""), d.get("action")
    note = (" " + str(_l("Note: %(note)s", note=d["note"]))) if d.get("note") else ""
    if k == ev.INCIDENT:
        return str(_l("%(who)s declared an incident.", who=who))
    if k == ev.FOLLOWER:
        return str(_l("%(who)s is affected too and follows this ticket.", who=who))
    if k == ev.LINKED:
        if action == "duplicate_of":
            return str(_l("%(who)s marked this ticket as a duplicate of %(ref)s.", who=who, ref=ref)) + note
        if action == "incident_member":
            return str(_l("%(who)s added this ticket to the incident %(ref)s “%(title)s”.", who=who, ref=ref,
                          title=d.get("title", "")))
        if not staff:
            return str(_l("Another report of this problem was linked to this ticket."))
        if action == "incident_added":
            return str(_l("%(who)s added %(ref)s to this incident.", who=who, ref=ref))
        return str(_l("%(who)s marked %(ref)s as a duplicate of this ticket.", who=who, ref=ref))
    if action == "into":
        return str(_l("%(who)s merged this ticket into %(ref)s.", who=who, ref=ref)) + note
    if d.get("internal"):
        return str(_l("Internal notes and files moved in from %(ref)s: %(notes)s notes, %(files)s files.", ref=ref,
                      notes=d.get("internal_messages", 0), files=d.get("internal_attachments", 0)))
    moved = str(_l("Messages moved: %(m)s; attachments moved: %(a)s.", m=d.get("messages", 0),
                   a=d.get("attachments", 0)))
    if staff:
        return str(_l("%(who)s merged %(ref)s into this ticket.", who=who, ref=ref)) + " " + moved
    return str(_l("%(who)s merged another report of this problem into this ticket.", who=who)) + " " + moved

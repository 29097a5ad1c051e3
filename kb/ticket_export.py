"""A ticket as data, filtered by what the exporting person may see.

One function used by the portal's JSON export (and later the API): messages, events and
attachments come from the same ``visible_*`` functions as the ticket page, so a
requester's export holds no internal note, internal attachment or staff-only event.
The export itself is an audited event.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from kb import permissions
from kb.attachments import visible_attachments
from kb.errors import NotFound
from kb.ticket_events import visible_events
from kb.ticket_messages import visible_messages
from kb.ticket_work import plans, record_export


def _iso(value):
    return value.isoformat() if value else None


def export_ticket(session: Session, actor, ticket) -> dict:
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    permissions.require(permissions.can_export_ticket(actor, ticket),
                        "Only the requester and support staff can export a ticket.")
    staff = permissions.is_staff(actor)
    data = {
        "reference": ticket.reference, "title": ticket.title, "description": ticket.description,
        "status": ticket.status, "channel": ticket.channel, "priority": ticket.priority,
        "priority_reason": ticket.priority_reason, "impact": ticket.impact, "urgency": ticket.urgency,
        "category": ticket.category.slug if ticket.category else None,
        "subcategory": ticket.subcategory.slug if ticket.subcategory else None,
        "requester": ticket.requester.name, "team": ticket.team.name if ticket.team else None,
        "assignee": ticket.assignee.name if ticket.assignee else None,
        "created_at": _iso(ticket.created_at), "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at), "planned_actions": ticket.planned_actions,
        "expected_completion_at": _iso(ticket.expected_completion_at), "resolution": ticket.resolution,
        "messages": [{"author_id": m.author_id, "internal": m.internal, "body": m.body,
                      "created_at": _iso(m.created_at)} for m in visible_messages(session, actor, ticket)],
        "events": [{"kind": e.kind, "from_status": e.from_status, "to_status": e.to_status,
                    "actor_id": e.actor_id, "created_at": _iso(e.created_at)}
                   for e in visible_events(session, actor, ticket)],
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "internal": a.internal, "created_at": _iso(a.created_at)}
                        for a in visible_attachments(session, actor, ticket)],
        "plans": [{"diagnosis": p.diagnosis, "steps": p.steps, "expected_effect": p.expected_effect,
                   "risks": p.risks, "created_at": _iso(p.created_at)} for p in plans(session, actor, ticket)],
    }
    if staff:
        data["restricted"] = ticket.restricted
    record_export(session, actor, ticket, "json")
    return data

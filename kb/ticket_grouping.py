"""Grouping tickets: mark as duplicate, merge, incidents, and the resolve cascade.

The grouping is a flat tree: a child points at its root with ``Ticket.parent_id`` (a
duplicate, a merged ticket, an incident's member); marking or merging re-parents the
child's own children to the root, so nothing is ever more than one level deep and cycles
cannot form. A duplicate or merged ticket is closed as ``merged`` and its requester and
followers follow the root (:class:`~kb.channel_models.TicketFollower`, with the source
ticket); an incident's members stay open under it, their requesters follow it, and
resolving it resolves them (:func:`resolve_children`, called from ``ticket_work.resolve``).
Restricted tickets (complaints) are never grouped. Detection ("colleagues reported this")
and joining live in :mod:`kb.duplicates`, which re-exports these services.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import permissions
from kb.channel_models import TicketFollower
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.notifications import notify_requesters, ticket_path
from kb.ticket_events import INCIDENT, LINKED, MERGED, RESOLUTION, record_event
from kb.ticket_flow import (MERGED as S_MERGED, OPEN_STATUSES, RESOLVED, STAFF, TERMINAL_STATUSES, TRANSITIONS,
                            apply_transition, transition_ticket)
from kb.ticket_messages import TicketMessage
from kb.ticket_records import TicketAttachment, TicketCollaborator
from kb.tickets import Ticket, create_ticket, get_ticket
from kb.users import User
from kb.validation import clean_text

NOTE_MAX = 2000
_REFERENCE_RE = re.compile(r"^\s*(?:HD-(\d{4})-)?#?0*(\d{1,12})\s*$", re.IGNORECASE)


def root_of(session: Session, ticket: Ticket, statuses=OPEN_STATUSES) -> Ticket:
    """The highest ancestor reachable through parents in ``statuses`` (cycles cannot loop)."""
    seen = {ticket.id}
    while ticket.parent_id is not None and ticket.parent_id not in seen:
        parent = session.get(Ticket, ticket.parent_id)
        if parent is None or parent.status not in statuses:
            break
        seen.add(parent.id)
        ticket = parent
    return ticket


def follow(session: Session, ticket: Ticket, user_id: int, *, source: Ticket | None = None,
           now: datetime | None = None) -> bool:
    """Make ``user_id`` a follower of ``ticket`` unless they are its requester or follow already."""
    if user_id == ticket.requester_id or session.get(TicketFollower, (ticket.id, user_id)) is not None:
        return False
    session.add(TicketFollower(ticket_id=ticket.id, user_id=user_id, source_ticket_id=getattr(source, "id", None),
                               created_at=now or utcnow()))
    session.flush()
    session.expire(ticket, ["followers"])
    return True


def followed_tickets(session: Session, actor, *, limit: int = 200) -> list[Ticket]:
    """Tickets the actor follows (not their own), newest first: the "following" list."""
    if actor is None:
        return []
    return list(session.scalars(select(Ticket).join(TicketFollower, TicketFollower.ticket_id == Ticket.id)
                                .where(TicketFollower.user_id == actor.id, Ticket.requester_id != actor.id)
                                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def resolve_reference(session: Session, actor, text: str | None, field: str = "target") -> Ticket:
    """A ticket named by its reference (HD-2026-000123), number or id, if the actor may see it."""
    match = _REFERENCE_RE.match(text or "")
    if not match:
        raise ValidationError("Enter a ticket reference such as HD-2026-000123, or its number.", field)
    ticket = get_ticket(session, actor, int(match.group(2)))
    if match.group(1) and int(match.group(1)) != ticket.created_at.year:
        raise NotFound("We could not find that ticket.")
    return ticket


def _workable(actor, *tickets: Ticket) -> None:
    for t in tickets:
        if not permissions.can_view_ticket(actor, t):
            raise NotFound("We could not find that ticket.")
        permissions.require(permissions.can_work_ticket(actor, t), "Only support agents can group tickets.")
        if t.restricted:
            raise ValidationError(f"{t.reference} is restricted: restricted tickets are never grouped with others.",
                                  "target")


def _check_pair(session: Session, actor, ticket: Ticket, other: Ticket) -> Ticket:
    """The root ``ticket`` goes under, after the checks marking and merging share."""
    _workable(actor, ticket, other)
    target = root_of(session, other, statuses=frozenset(OPEN_STATUSES) | {RESOLVED})
    if other.id == ticket.id:
        raise ValidationError("A ticket cannot be grouped with itself.", "target")
    if target.id == ticket.id:
        raise ValidationError(f"{other.reference} is already grouped under this ticket.", "target")
    for t in (other, target):
        if t.status in TERMINAL_STATUSES:
            raise ValidationError(f"{t.reference} is {t.status}; choose an open ticket.", "target")
    if ticket.is_incident:
        raise ValidationError("An incident cannot go under another ticket; add its tickets there instead.", "target")
    if ticket.status not in OPEN_STATUSES:
        raise ValidationError(f"{ticket.reference} is {ticket.status}; only an open ticket can be grouped.", "target")
    return target


def _attach(session: Session, ticket: Ticket, root: Ticket, now: datetime) -> None:
    """Put ``ticket`` (and its own children) under ``root``; its requester and followers follow ``root``."""
    ticket.parent_id = root.id
    for child in session.scalars(select(Ticket).where(Ticket.parent_id == ticket.id, Ticket.id != root.id)):
        child.parent_id = root.id
    for uid in sorted({ticket.requester_id} | ticket.follower_ids):
        follow(session, root, uid, source=ticket, now=now)


def mark_duplicate(session: Session, actor, ticket: Ticket, of_ticket: Ticket, note: str = "", *,
                   now: datetime | None = None) -> Ticket:
    """``ticket`` reports what ``of_ticket`` (or its root) already covers: it goes under that
    root and is closed as merged; its requester follows the root. ``note`` is public."""
    target = _check_pair(session, actor, ticket, of_ticket)
    note = clean_text(note, field="note", limit=NOTE_MAX, label="note")
    now = now or utcnow()
    _attach(session, ticket, target, now)
    transition_ticket(session, actor, ticket, S_MERGED, reason=f"duplicate of {target.reference}", now=now)
    record_event(session, actor, ticket, LINKED, now=now, data={
        "action": "duplicate_of", "ticket_id": target.id, "reference": target.reference, "note": note})
    record_event(session, actor, target, LINKED, now=now, data={
        "action": "duplicate_added", "ticket_id": ticket.id, "reference": ticket.reference})
    notify_requesters(session, ticket, "update",
                      f"{ticket.reference} is the same problem as {target.reference}, which is already being "
                      f"worked on. You now follow {target.reference} and get its updates.", now=now,
                      body=note or None, links=[(f"Follow {target.reference}", ticket_path(target))], exclude=actor.id)
    return target


def merge_tickets(session: Session, actor, source: Ticket, target: Ticket, note: str = "", *,
                  now: datetime | None = None) -> Ticket:
    """Move ``source``'s messages, attachments and collaborators to ``target`` (or its root);
    ``source``'s requester and followers follow it; ``source`` is closed as merged. The
    source keeps its own history (events); the target records what moved."""
    target = _check_pair(session, actor, source, target)
    note = clean_text(note, field="note", limit=NOTE_MAX, label="note")
    now = now or utcnow()
    messages = list(session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == source.id)))
    files = list(session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == source.id)))
    for row in [*messages, *files]:
        row.ticket_id = target.id
    have = {(c.user_id, c.team_id) for c in session.scalars(
        select(TicketCollaborator).where(TicketCollaborator.ticket_id == target.id))}
    for c in session.scalars(select(TicketCollaborator).where(TicketCollaborator.ticket_id == source.id)):
        if (c.user_id, c.team_id) not in have and c.user_id != target.assignee_id:
            session.add(TicketCollaborator(ticket_id=target.id, user_id=c.user_id, team_id=c.team_id,
                                           added_by_id=actor.id, created_at=now))
    _attach(session, source, target, now)
    source.merged_into_id = target.id
    target.updated_at = now
    transition_ticket(session, actor, source, S_MERGED, reason=f"merged into {target.reference}", now=now)
    public = {"messages": sum(not m.internal for m in messages), "attachments": sum(not f.internal for f in files)}
    record_event(session, actor, source, MERGED, now=now,
                 data={"action": "into", "ticket_id": target.id, "reference": target.reference, "note": note, **public})
    record_event(session, actor, target, MERGED, now=now,
                 data={"action": "from", "ticket_id": source.id, "reference": source.reference, **public})
    record_event(session, actor, target, MERGED, now=now, data={  # staff only (visible_events drops it)
        "action": "from", "internal": True, "ticket_id": source.id, "reference": source.reference,
        "internal_messages": sum(m.internal for m in messages), "internal_attachments": sum(f.internal for f in files)})
    notify_requesters(session, source, "update",
                      f"{source.reference} was merged into {target.reference}: the conversation continues there, "
                      f"and you get its updates.", now=now, body=note or None,
                      links=[(f"Open {target.reference}", ticket_path(target))], exclude=actor.id)
    return target


def declare_incident(session: Session, actor, *, title: str, description: str, ticket_ids=(), embedder=None,
                     now: datetime | None = None) -> Ticket:
    """A new incident ticket (the actor is its requester; its title is shown to requesters
    who describe the same problem) with ``ticket_ids`` as its members."""
    permissions.require(permissions.can_manage_incidents(actor), "Only support agents can declare an incident.")
    members = [get_ticket(session, actor, int(i)) for i in ticket_ids]
    _workable(actor, *members)
    now = now or utcnow()
    incident = create_ticket(session, actor, title=title, description=description, embedder=embedder, now=now)
    incident.is_incident = True
    record_event(session, actor, incident, INCIDENT, data={"action": "declared", "title": incident.title}, now=now)
    add_to_incident(session, actor, incident, members, now=now)
    return incident


def add_to_incident(session: Session, actor, incident: Ticket, tickets, *, now: datetime | None = None) -> list[Ticket]:
    """Make open ``tickets`` members of ``incident``; their requesters follow it and are told.
    Tickets already in it are skipped (idempotent); returns the ones added."""
    permissions.require(permissions.can_manage_incidents(actor), "Only support agents can manage incidents.")
    _workable(actor, incident, *tickets)
    if not incident.is_incident:
        raise ValidationError(f"{incident.reference} is not an incident.", "target")
    if incident.status not in OPEN_STATUSES:
        raise ValidationError(f"The incident {incident.reference} is {incident.status}.", "target")
    now = now or utcnow()
    added = []
    for t in tickets:
        if t.parent_id == incident.id:
            continue
        if t.id == incident.id or t.is_incident:
            raise ValidationError(f"{t.reference} is an incident itself.", "target")
        if t.status not in OPEN_STATUSES:
            raise ValidationError(f"{t.reference} is {t.status}; only open tickets join an incident.", "target")
        _attach(session, t, incident, now)
        record_event(session, actor, t, LINKED, now=now, data={
            "action": "incident_member", "ticket_id": incident.id, "reference": incident.reference,
            "title": incident.title})
        record_event(session, actor, incident, LINKED, now=now, data={
            "action": "incident_added", "ticket_id": t.id, "reference": t.reference})
        notify_requesters(session, t, "update",
                          f"{t.reference} is part of a known incident: “{incident.title}”. You get its updates "
                          f"and we tell you when it is resolved.", now=now,
                          links=[("Follow the incident", ticket_path(incident))], exclude=actor.id)
        added.append(t)
    return added


def _path_to_resolved(status: str) -> list[str] | None:
    """The shortest staff path through the lifecycle table from ``status`` to resolved."""
    queue, seen = deque([(status, [])]), {status}
    while queue:
        here, path = queue.popleft()
        if here == RESOLVED:
            return path
        for to, roles in TRANSITIONS[here].items():
            if to not in seen and roles & STAFF and to not in TERMINAL_STATUSES:
                seen.add(to)
                queue.append((to, [*path, to]))
    return None


def resolve_children(session: Session, actor, parent: Ticket, *, now: datetime | None = None) -> list[Ticket]:
    """After ``parent`` was resolved: its open children are resolved with the same resolution
    (automatic moves through the table) and each child's requester and followers are asked to
    confirm. Called once from :func:`kb.ticket_work.resolve`."""
    children = list(session.scalars(select(Ticket).where(Ticket.parent_id == parent.id,
                                                         Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id)))
    now = now or utcnow()
    done = []
    for child in children:
        path = _path_to_resolved(child.status)
        if path is None:
            continue
        for step in path:
            apply_transition(session, actor, child, step, now=now,
                             data={"auto": True, "reason": f"resolved with {parent.reference}"})
        child.resolution = parent.resolution
        record_event(session, actor, child, RESOLUTION, data={"with": parent.reference}, now=now)
        notify_requesters(session, child, "resolved",
                          f"{child.reference} was resolved together with {parent.reference}. Please confirm the "
                          f"fix or reopen it.", now=now, body=f"Resolution:\n{parent.resolution or ''}",
                          links=[("Confirm the fix", f"{ticket_path(child)}/mail/confirm"),
                                 ("It is not fixed: reopen", f"{ticket_path(child)}/mail/reopen")])
        done.append(child)
    return done


@dataclass(frozen=True)
class Grouping:
    """What the ticket page shows about a ticket's group, filtered for the viewer."""
    parent: Ticket | None
    children: list[Ticket]
    followers: list[User]
    following: bool


def grouping_of(session: Session, actor, ticket: Ticket) -> Grouping:
    """Parent (if the viewer may see it); children and followers for staff only."""
    parent = session.get(Ticket, ticket.parent_id or ticket.merged_into_id or 0)
    if parent is not None and not permissions.can_view_ticket(actor, parent):
        parent = None
    staff = permissions.is_staff(actor)
    children = list(session.scalars(select(Ticket).where(Ticket.parent_id == ticket.id)
                                    .order_by(Ticket.created_at, Ticket.id))) if staff else []
    followers = list(session.scalars(select(User).join(TicketFollower, TicketFollower.user_id == User.id)
                                     .where(TicketFollower.ticket_id == ticket.id).order_by(User.name))) if staff else []
    following = actor is not None and actor.id != ticket.requester_id and actor.id in ticket.follower_ids
    return Grouping(parent, [c for c in children if permissions.can_view_ticket(actor, c)], followers, following)

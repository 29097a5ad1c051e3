"""The ticket lifecycle as data: the statuses, who may move a ticket from one to another,
and the one function that applies a move (and records it as an event).

``TRANSITIONS[from][to]`` is the set of roles allowed to make that move. The pseudo-role
``"requester_self"`` means "the ticket's own requester", whatever their role. "Staff"
below means agent, lead and admin; trainers look after articles and can read tickets
but do not work them.

============================  ======================  ===============================
from                          to                      who
============================  ======================  ===============================
new                           assigned                staff
assigned                      acknowledged            staff
acknowledged                  in_progress             staff
in_progress                   waiting_for_requester   staff
waiting_for_requester         in_progress             staff, requester_self
in_progress                   resolved                staff
waiting_for_requester         resolved                staff
resolved                      closed                  staff, requester_self
resolved                      reopened                requester_self (reason required)
reopened                      in_progress             staff
new, assigned, acknowledged,  cancelled               requester_self (reason required)
in_progress, waiting_...
new, assigned, acknowledged,  merged                  agent, lead, admin
in_progress, waiting_...,
reopened
closed                        reopened                system only: a reply by email within
                                                      HELPDESK_MAIL_REOPEN_DAYS (kb.mail_in)
============================  ======================  ===============================

``closed``, ``cancelled`` and ``merged`` are terminal for people (``closed`` can only be
left by the system move above). Reassigning an assigned ticket
is not a status change (assignment is its own field, later), so it is not in the table.

Checks, in order, and what they raise:

1. the actor cannot see the ticket (someone else's, or not logged in) -> ``NotFound``,
   the same answer :func:`kb.tickets.get_ticket` gives, so nothing hints that it exists;
2. ``(from, to)`` is not in the table (including ``to == from``) -> ``InvalidTransition``
   (409), whoever asks;
3. the move exists but not for this actor -> ``PermissionDenied``;
4. reopen/cancel without a reason -> ``ValidationError`` (field ``reason``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from kb import permissions
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied
from kb.ticket_events import STATUS, TicketEvent, record_event
from kb.users import Role
from kb.validation import clean_text

NEW, ASSIGNED, ACKNOWLEDGED, IN_PROGRESS = "new", "assigned", "acknowledged", "in_progress"
WAITING, RESOLVED, CLOSED, REOPENED = "waiting_for_requester", "resolved", "closed", "reopened"
CANCELLED, MERGED = "cancelled", "merged"
STATUSES = (NEW, ASSIGNED, ACKNOWLEDGED, IN_PROGRESS, WAITING, RESOLVED, CLOSED, REOPENED,
            CANCELLED, MERGED)
OPEN_STATUSES = frozenset({NEW, ASSIGNED, ACKNOWLEDGED, IN_PROGRESS, WAITING, REOPENED})
TERMINAL_STATUSES = frozenset({CLOSED, CANCELLED, MERGED})

REQUESTER_SELF = "requester_self"
STAFF = frozenset({Role.AGENT.value, Role.LEAD.value, Role.ADMIN.value})
SELF = frozenset({REQUESTER_SELF})
SYSTEM = frozenset({"system"})  # no person has this role: only apply_transition (the system) moves
REASON_REQUIRED = frozenset({REOPENED, CANCELLED})
REASON_MAX = 2000

_CANCELLABLE = (NEW, ASSIGNED, ACKNOWLEDGED, IN_PROGRESS, WAITING)

TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    NEW: {ASSIGNED: STAFF},
    ASSIGNED: {ACKNOWLEDGED: STAFF},
    ACKNOWLEDGED: {IN_PROGRESS: STAFF},
    IN_PROGRESS: {WAITING: STAFF, RESOLVED: STAFF},
    WAITING: {IN_PROGRESS: STAFF | SELF, RESOLVED: STAFF},
    RESOLVED: {CLOSED: STAFF | SELF, REOPENED: SELF},
    REOPENED: {IN_PROGRESS: STAFF},
    CLOSED: {REOPENED: SYSTEM},
    CANCELLED: {},
    MERGED: {},
}
for _s in _CANCELLABLE:
    TRANSITIONS[_s][CANCELLED] = SELF
for _s in OPEN_STATUSES:
    TRANSITIONS[_s][MERGED] = STAFF
del _s

assert set(TRANSITIONS) == set(STATUSES)
assert all(set(targets) <= set(STATUSES) for targets in TRANSITIONS.values())


def allowed_roles(from_status: str, to_status: str) -> frozenset[str]:
    """Who may make this move; empty if the move does not exist."""
    return TRANSITIONS.get(from_status, {}).get(to_status, frozenset())


def _actor_roles(actor, ticket) -> set[str]:
    roles = set()
    if not permissions.can_view_ticket(actor, ticket):
        return roles
    roles.add(actor.role)
    if actor.id == ticket.requester_id:
        roles.add(REQUESTER_SELF)
    return roles


def available_transitions(actor, ticket) -> list[str]:
    """The statuses this actor could move the ticket to now (for buttons), in STATUSES order."""
    mine = _actor_roles(actor, ticket)
    return [to for to in STATUSES if allowed_roles(ticket.status, to) & mine]


def transition_ticket(session: Session, actor, ticket, to_status: str, *, reason: str = "",
                      now: datetime | None = None) -> TicketEvent:
    """Move ``ticket`` to ``to_status`` if the table allows it for ``actor``; flush; return the event."""
    mine = _actor_roles(actor, ticket)
    if not mine:
        raise NotFound("We could not find that ticket.")
    from_status = ticket.status
    roles = allowed_roles(from_status, to_status)
    if not roles:
        raise InvalidTransition(f"A ticket cannot go from {from_status!r} to {to_status!r}.")
    if not roles & mine:
        raise PermissionDenied(f"You may not move this ticket from {from_status!r} to {to_status!r}.")
    reason = clean_text(reason, field="reason", limit=REASON_MAX, missing=(
        f"Give a reason to move the ticket to {to_status!r}." if to_status in REASON_REQUIRED else None))
    return apply_transition(session, actor, ticket, to_status, data={"reason": reason} if reason else None,
                            now=now)


def apply_transition(session: Session, actor, ticket, to_status: str, *, data: dict | None = None,
                     now: datetime | None = None) -> TicketEvent:
    """Make a move the table allows, without the actor checks: for the system (routing,
    the scheduler's auto-close; ``actor`` None) and for :func:`transition_ticket` after its
    checks. Keeps ``resolved_at``/``closed_at`` and writes the event."""
    from_status = ticket.status
    if not allowed_roles(from_status, to_status):
        raise InvalidTransition(f"A ticket cannot go from {from_status!r} to {to_status!r}.")
    now = now or utcnow()
    ticket.status = to_status
    ticket.updated_at = now
    if to_status == RESOLVED:
        ticket.resolved_at = now
    elif to_status == CLOSED:
        ticket.closed_at = now
    elif to_status in (REOPENED, IN_PROGRESS) and from_status in (RESOLVED, REOPENED):
        ticket.resolved_at = None
    event = record_event(session, actor, ticket, STATUS, from_status=from_status, to_status=to_status,
                         data=data, now=now)
    if to_status == CLOSED:
        from kb.notifications import notify, ticket_path

        notify(session, ticket.requester_id, "survey",
               f"{ticket.reference} is closed. Three quick questions tell us how we did.", ticket=ticket,
               now=now, links=[("Answer the survey", f"{ticket_path(ticket)}/survey")])
    return event

"""Ticket events: one append-only row for every change to a ticket; they are the audit trail.

Every change writes one event (see the kinds below). Events never carry message bodies
(only the message id), so what a requester may see of the history is decided by the
kind (the allow-list :data:`REQUESTER_KINDS`) and an ``"internal": true`` flag in the data
(an attachment on an internal note).

Append-only is enforced in the ORM: flushing a modified or deleted ``TicketEvent``, or
an ORM-level bulk ``update``/``delete`` on the table, raises :class:`ImmutableEventError`.
(Raw SQL on the connection is not covered; nothing in kb does that.)
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kb import permissions
from kb.db import Base, UTCDateTime, utcnow
from kb.errors import NotFound

STATUS = "status"                          # from_status -> to_status
REPLY = "reply"                            # a public reply by the requester
AGENT_PUBLIC_REPLY = "agent_public_reply"  # a public reply by staff; stops the SLA first-response clock
NOTE = "note"                              # an internal note: staff only
CREATED = "created"                        # registration: channel, category, priority (starts the clocks)
ASSIGNED = "assigned"                      # team and/or assignee set, by routing or by a lead
TRANSFERRED = "transferred"                # moved to another team, with a reason
ACKNOWLEDGED = "acknowledged"              # planned actions and expected completion recorded
PRIORITY = "priority"                      # priority / impact / urgency changed
CATEGORY = "category"                      # category / subcategory changed
EDIT = "edit"                              # title, description or contact details edited
ATTACHMENT = "attachment"                  # a file added (data says whether it is internal)
PLAN = "plan"                              # diagnosis / resolution plan written or revised
COLLABORATOR = "collaborator"              # an agent or team brought in (or removed)
ARTICLE_LINK = "article_link"              # a knowledge article linked as used for the resolution
RESOLUTION = "resolution"                  # the resolution summary recorded
SURVEY = "survey"                          # the requester answered the satisfaction survey
REMINDER = "reminder"                      # the scheduler reminded the assignee of a due time
ESCALATED = "escalated"                    # an SLA target was breached and the lead told
VIEW_RESTRICTED = "view_restricted"        # someone opened a restricted ticket
EXPORT = "export"                          # the ticket was exported
LINKED = "linked"                          # grouped (kb.duplicates): a duplicate or an incident's member, both sides
MERGED = "merged"                          # merged (kb.duplicates): what moved, on the source and the target
INCIDENT = "incident"                      # declared an incident
FOLLOWER = "follower"                      # someone joined the issue ("add me"): names are staff-only
POSSIBLE_DUPLICATE = "possible_duplicate"  # a channel's ticket reads like recent open reports (staff hint)
KINDS = (STATUS, REPLY, AGENT_PUBLIC_REPLY, NOTE, CREATED, ASSIGNED, TRANSFERRED, ACKNOWLEDGED, PRIORITY,
         CATEGORY, EDIT, ATTACHMENT, PLAN, COLLABORATOR, ARTICLE_LINK, RESOLUTION, SURVEY, REMINDER,
         ESCALATED, VIEW_RESTRICTED, EXPORT, LINKED, MERGED, INCIDENT, FOLLOWER, POSSIBLE_DUPLICATE)
# What a requester may see of the history: an allow-list, so a new kind is staff-only until
# someone decides otherwise. ATTACHMENT events of internal files are dropped separately.
REQUESTER_KINDS = frozenset({STATUS, REPLY, AGENT_PUBLIC_REPLY, CREATED, ASSIGNED, ACKNOWLEDGED, PRIORITY,
                             CATEGORY, EDIT, ATTACHMENT, PLAN, RESOLUTION, SURVEY, LINKED, MERGED, INCIDENT})
STAFF_ONLY_KINDS = frozenset(KINDS) - REQUESTER_KINDS
# Kinds that can move an SLA clock or change its targets: record_event refreshes the
# ticket's denormalised due times (kb.ticket_sla.refresh) after writing one of them.
SLA_KINDS = frozenset({CREATED, STATUS, AGENT_PUBLIC_REPLY, PRIORITY})


class ImmutableEventError(RuntimeError):
    """A programming error, not a user error: events are never changed or removed."""


class TicketEvent(Base):
    __tablename__ = "ticket_event"
    __table_args__ = (Index("ix_ticket_event_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))  # indexed by ix_*_ticket_created
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(30), nullable=True)
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def payload(self) -> dict:
        return json.loads(self.data or "{}")

    def __repr__(self) -> str:
        return f"<TicketEvent {self.id} {self.kind} {self.from_status}->{self.to_status}>"


def record_event(session: Session, actor, ticket, kind: str, *, from_status: str | None = None,
                 to_status: str | None = None, data: dict | None = None,
                 now: datetime | None = None) -> TicketEvent:
    """Append one event (services call this; it does not check permissions)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ticket event kind {kind!r}")
    ev = TicketEvent(ticket_id=ticket.id, actor_id=getattr(actor, "id", None), kind=kind,
                     from_status=from_status, to_status=to_status,
                     data=json.dumps(data or {}, sort_keys=True), created_at=now or utcnow())
    session.add(ev)
    _count(ticket, kind, to_status)
    session.flush()
    if kind in SLA_KINDS:
        from kb import ticket_sla  # late: ticket_sla reads events through this module
        ticket_sla.refresh(session, ticket, now=ev.created_at)
    return ev


def _counter(kind: str, to_status: str | None) -> str | None:
    if kind == STATUS:
        return {"reopened": "reopen_count", "waiting_for_requester": "wait_count"}.get(to_status or "")
    return {AGENT_PUBLIC_REPLY: "public_reply_count", TRANSFERRED: "transfer_count"}.get(kind)


def _count(ticket, kind: str, to_status: str | None) -> None:
    """Keep the ticket's event counters (see kb.tickets.Ticket) in step with the events."""
    column = _counter(kind, to_status)
    if column is not None:
        setattr(ticket, column, (getattr(ticket, column, 0) or 0) + 1)


# The same counters recomputed from the events, for data written around record_event (a bulk
# load, a benchmark); the migration that added the columns runs the same statement.
RECOUNT_SQL = """UPDATE ticket SET
  reopen_count = (SELECT count(*) FROM ticket_event e WHERE e.ticket_id = ticket.id AND e.kind = 'status'
                  AND e.to_status = 'reopened'),
  wait_count = (SELECT count(*) FROM ticket_event e WHERE e.ticket_id = ticket.id AND e.kind = 'status'
                AND e.to_status = 'waiting_for_requester'),
  public_reply_count = (SELECT count(*) FROM ticket_event e WHERE e.ticket_id = ticket.id
                        AND e.kind = 'agent_public_reply'),
  transfer_count = (SELECT count(*) FROM ticket_event e WHERE e.ticket_id = ticket.id AND e.kind = 'transferred')"""


def list_events(session: Session, ticket) -> list[TicketEvent]:
    """Every event of the ticket in order (no permission filter: for services and staff)."""
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                .order_by(TicketEvent.created_at, TicketEvent.id)))


def visible_events(session: Session, actor, ticket) -> list[TicketEvent]:
    """The history this actor may see: all for staff; the requester does not see notes."""
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    events = list_events(session, ticket)
    if permissions.is_staff(actor):
        return events
    return [e for e in events if e.kind in REQUESTER_KINDS and not e.payload.get("internal")]


@event.listens_for(Session, "before_flush")
def _events_are_append_only(session, _flush_context, _instances):
    for obj in session.deleted:
        if isinstance(obj, TicketEvent):
            raise ImmutableEventError(f"ticket events are append-only; refusing to delete {obj!r}")
    for obj in session.dirty:
        if isinstance(obj, TicketEvent) and session.is_modified(obj, include_collections=False):
            raise ImmutableEventError(f"ticket events are append-only; refusing to modify {obj!r}")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_event_changes(state):
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is TicketEvent:
        raise ImmutableEventError("ticket events are append-only; bulk UPDATE/DELETE refused")

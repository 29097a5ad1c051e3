"""The conversation on a ticket: public replies and internal notes.

Bodies are stored as the plain text the author typed (rendering is the portal's job).
Every message writes one event, which carries only the message id, never the body:

- a requester's public reply -> ``"reply"``;
- a staff public reply -> ``"agent_public_reply"`` (exactly the kind the SLA
  first-response clock stops at, so no second event is needed);
- an internal note -> ``"note"`` (hidden from the requester in :func:`visible_events`).

Public replies are refused on closed, cancelled and merged tickets (InvalidTransition,
409); staff may still add internal notes there.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kb import permissions
from kb.db import Base, UTCDateTime, utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied
from kb.ticket_events import AGENT_PUBLIC_REPLY, NOTE, REPLY, record_event, visible_events  # noqa: F401
from kb.ticket_flow import TERMINAL_STATUSES
from kb.validation import clean_text

BODY_MAX = 20000


class TicketMessage(Base):
    __tablename__ = "ticket_message"
    __table_args__ = (Index("ix_ticket_message_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))  # indexed by ix_*_ticket_created
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<TicketMessage {self.id} {'note' if self.internal else 'reply'}>"


def _clean_body(body: str | None) -> str:
    return clean_text(body, field="body", limit=BODY_MAX, label="message", missing="Write a message.")


def add_reply(session: Session, actor, ticket, body: str, *, internal: bool = False,
              now: datetime | None = None) -> TicketMessage:
    """Add a public reply (requester on their own ticket, or staff) or an internal note (staff)."""
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    staff = permissions.is_staff(actor)
    if internal and not staff:
        raise PermissionDenied("Only support staff can add internal notes.")
    if not internal and ticket.status in TERMINAL_STATUSES:
        raise InvalidTransition(f"A {ticket.status!r} ticket takes no more replies.")
    now = now or utcnow()
    message = TicketMessage(ticket_id=ticket.id, author_id=actor.id, body=_clean_body(body),
                            internal=internal, created_at=now)
    session.add(message)
    session.flush()
    kind = NOTE if internal else (AGENT_PUBLIC_REPLY if staff else REPLY)
    record_event(session, actor, ticket, kind, data={"message_id": message.id}, now=now)
    ticket.updated_at = now
    return message


def visible_messages(session: Session, actor, ticket) -> list[TicketMessage]:
    """Every message for staff; only the public ones for the requester."""
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
    if not permissions.is_staff(actor):
        query = query.where(TicketMessage.internal.is_(False))
    return list(session.scalars(query.order_by(TicketMessage.created_at, TicketMessage.id)))

"""Tickets: the minimal record a requester files when the knowledge base did not help.

The lifecycle (statuses, transitions, events) lives in :mod:`kb.ticket_flow`; the
conversation in :mod:`kb.ticket_messages`. Keep this model to what every channel needs.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from kb import permissions
from kb.db import Base, UTCDateTime, utcnow
from kb.errors import NotFound, ValidationError
from kb.intake_models import IntakeSession
from kb.ticket_flow import STATUSES
from kb.users import User

TITLE_MAX = 200
DESCRIPTION_MAX = 20000
REFERENCE_PREFIX = "HD"


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status_valid"),
        Index("ix_ticket_requester_created", "requester_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text)
    requester_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(30), default="new")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    intake_session_id: Mapped[int | None] = mapped_column(ForeignKey("intake_session.id", ondelete="SET NULL"),
                                                          nullable=True, index=True)

    requester: Mapped[User] = relationship()
    intake_session: Mapped[IntakeSession | None] = relationship()

    @property
    def reference(self) -> str:
        """Readable and stable: HD-<year filed>-<id, six digits>."""
        return f"{REFERENCE_PREFIX}-{self.created_at.year}-{self.id:06d}"

    @property
    def text(self) -> str:
        """What the requester said, for matching against earlier intake sessions."""
        return f"{self.title}\n{self.description}".strip()

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self.status}>"


def _clean(text: str | None, limit: int, field: str, label: str) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationError(f"Enter a {label}.", field)
    if len(text) > limit:
        raise ValidationError(f"The {label} can have at most {limit} characters.", field)
    return text


def create_ticket(session: Session, actor: User, *, title: str, description: str,
                  intake: IntakeSession | None = None, matcher=None, window_days: int = 7,
                  now: datetime | None = None) -> Ticket:
    """File a ticket for ``actor``. ``intake`` is the session it came from (the caller has
    checked that this browser owns it); ``matcher`` (a kb.deflection.ProblemMatcher) turns
    earlier deflections of the same problem within ``window_days`` into failed ones."""
    from kb import deflection, intake as intake_service

    permissions.require(permissions.can_file_ticket(actor), "Log in to file a ticket.")
    now = now or utcnow()
    ticket = Ticket(title=_clean(title, TITLE_MAX, "title", "title"),
                    description=_clean(description, DESCRIPTION_MAX, "description", "description"),
                    requester_id=actor.id, status="new", created_at=now, updated_at=now)
    if intake is not None:
        intake_service.require_writable(intake, actor)
        ticket.intake_session = intake
    session.add(ticket)
    session.flush()
    if intake is not None:
        intake_service.record_ticket_filed(session, intake, ticket, now=now)
    deflection.fail_deflections(session, ticket, matcher, window_days=window_days, now=now)
    return ticket


def get_ticket(session: Session, actor, ticket_id: int) -> Ticket:
    """The ticket if this actor may see it; NotFound otherwise (no hint that it exists)."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    return ticket


def list_my_tickets(session: Session, actor: User, *, limit: int = 200) -> list[Ticket]:
    if actor is None:
        return []
    return list(session.scalars(select(Ticket).where(Ticket.requester_id == actor.id)
                                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))

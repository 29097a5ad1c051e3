"""Tickets: the minimal record a requester files when the knowledge base did not help.

The lifecycle (statuses, transitions, events) lives in :mod:`kb.ticket_flow`; the
conversation in :mod:`kb.ticket_messages`. Keep this model to what every channel needs.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from kb import permissions
from kb.channel_models import TicketFollower
from kb.db import Base, UTCDateTime, utcnow
from kb.errors import NotFound, ValidationError
from kb.intake_models import IntakeSession
from kb.taxonomy import Category
from kb.teams import Team
from kb.ticket_events import CREATED, record_event
from kb.ticket_flow import STATUSES
from kb.users import EMAIL_RE, User
from kb.validation import clean_text

TITLE_MAX = 200
DESCRIPTION_MAX = 20000
REFERENCE_PREFIX = "HD"
CHANNELS = ("portal", "phone", "email", "chat", "api")
PRIORITY_KEYS = ("high", "medium", "low")  # as kb.sla.models.PRIORITIES; kb.triage labels are capitalised
IMPACTS = ("single", "several", "all")      # kb.triage.priority.IMPACT_LEVELS
URGENCIES = ("can_wait", "impeded", "stopped")


def new_email_token() -> str:
    """Ten characters of a URL- and subject-safe alphabet (about 50 bits)."""
    return secrets.token_hex(8)[:10]


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_valid"),
        CheckConstraint(_in("channel", CHANNELS), name="channel_valid"),
        CheckConstraint(_in("priority", PRIORITY_KEYS), name="priority_valid"),
        CheckConstraint(f"impact IS NULL OR {_in('impact', IMPACTS)}", name="impact_valid"),
        CheckConstraint(f"urgency IS NULL OR {_in('urgency', URGENCIES)}", name="urgency_valid"),
        Index("ix_ticket_requester_created", "requester_id", "created_at"),
        # The agent desk's queues: mine, my team's, unassigned, breaching soon, breached.
        Index("ix_ticket_assignee_status", "assignee_id", "status"),
        Index("ix_ticket_team_status", "team_id", "status"),
        Index("ix_ticket_status_due", "status", "next_due_at"),
        Index("ix_ticket_status_breached_due", "status", "breached_at", "next_due_at"),  # leads' queues (bench)
        # Insights over a period read these columns only: a covering index, so a year's SLA and
        # agent figures do not walk the wide rows (descriptions on overflow pages in SQLite).
        Index("ix_ticket_outcomes", "created_at", "priority", "team_id", "assignee_id", "status", "response_minutes",
              "resolution_minutes", "response_breached_at", "resolution_breached_at", "resolved_at", "closed_at",
              "reopen_count"),
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

    # Registration: how it came in and how to reach the requester.
    channel: Mapped[str] = mapped_column(String(10), default="portal")
    contact_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    language: Mapped[str | None] = mapped_column(String(10), nullable=True)

    # Classification and priority (impact x urgency through the matrix, with the reason).
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True, index=True)
    subcategory_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True)
    impact: Mapped[str | None] = mapped_column(String(10), nullable=True)
    urgency: Mapped[str | None] = mapped_column(String(10), nullable=True)
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    priority_reason: Mapped[str] = mapped_column(Text, default="")
    # What triage suggested when the ticket was filed (kept to report accuracy).
    suggested_category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True)
    suggested_priority: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Service-attitude complaints: visible to the requester, team leads and admins only.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)

    # Assignment.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)

    # Acknowledgement and resolution, as the requester sees them.
    planned_actions: Mapped[str | None] = mapped_column(Text, nullable=True)
    expected_completion_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True)

    # Grouping (kb.duplicates): a duplicate or an incident's member points at its parent;
    # a follow-up (a reply by email to a ticket closed too long ago) at the old ticket.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True, index=True)
    is_incident: Mapped[bool] = mapped_column(Boolean, default=False)
    followup_of_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True)
    # The secret in every mail about this ticket (subject tag and Message-ID): a reply by
    # email is only threaded onto the ticket when it carries it (kb.mail_in).
    email_token: Mapped[str] = mapped_column(String(16), default=new_email_token)

    # Counters of the ticket's events, kept by kb.ticket_events.record_event (the one writer of
    # events) so the insights read one row per ticket instead of its events (kb.insight_figures).
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wait_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    public_reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    transfer_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # SLA, denormalised from the clocks (kb.sla.clock) after every change so queues can
    # filter and sort by them with an index; None while paused or stopped.
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # Each clock's outcome, for the insights (kb.insight_sla): when it breached, and the
    # business minutes it took once it stopped (None while it runs). Kept by apply_status.
    response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    response_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolution_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    intake_session: Mapped[IntakeSession | None] = relationship()
    category: Mapped[Category | None] = relationship(foreign_keys=[category_id])
    subcategory: Mapped[Category | None] = relationship(foreign_keys=[subcategory_id])
    team: Mapped["Team | None"] = relationship(foreign_keys=[team_id])
    followers: Mapped[list[TicketFollower]] = relationship(foreign_keys=[TicketFollower.ticket_id], viewonly=True)

    @property
    def follower_ids(self) -> set[int]:
        return {f.user_id for f in self.followers}

    @property
    def reference(self) -> str:
        """Readable and stable: HD-<year filed>-<id, six digits>."""
        return f"{REFERENCE_PREFIX}-{self.created_at.year}-{self.id:06d}"

    @property
    def mail_tag(self) -> str:
        """The subject tag of every mail about this ticket: the reference and its token."""
        return f"[{self.reference}:{self.email_token}]"

    @property
    def text(self) -> str:
        """What the requester said, for matching against earlier intake sessions."""
        return f"{self.title}\n{self.description}".strip()

    def __repr__(self) -> str:
        return f"<Ticket {self.id} {self.status}>"


def _clean(text: str | None, limit: int, field: str, label: str) -> str:
    return clean_text(text, field=field, limit=limit, label=label, missing=f"Enter a {label}.")


def create_ticket(session: Session, actor: User, *, title: str, description: str,
                  intake: IntakeSession | None = None, matcher=None, window_days: int = 7,
                  now: datetime | None = None, channel: str = "portal", contact_email: str | None = None,
                  contact_phone: str | None = None, category_id: int | None = None,
                  subcategory_id: int | None = None, impact: str | None = None, urgency: str | None = None,
                  embedder=None, route: bool = True, requester: User | None = None,
                  suggested=None) -> Ticket:
    """Register a ticket for ``actor`` (steps 1-3 of the process in one go).

    Registration (channel, contact details, time), then triage (:mod:`kb.triage_service`:
    a suggestion from similar past tickets and the critical-signal rules, with what the
    requester chose taking precedence and every difference stored as a correction), the
    ``created`` event (which starts the SLA clocks), the ticket's embedding (for similar
    tickets later; needs ``embedder``) and automatic routing (:mod:`kb.routing`).

    ``intake`` is the session it came from (the caller has checked that this browser owns
    it); ``matcher`` (a kb.deflection.ProblemMatcher) turns earlier deflections of the same
    problem within ``window_days`` into failed ones.

    ``requester`` is the person the ticket is for when ``actor`` files it on their behalf
    (an agent logging a call, the email and chat intake); it defaults to ``actor``.
    ``suggested`` (``[(title, path)]``) are the articles offered to them, for the "received"
    notification; by default the ones the intake session showed last."""
    from kb import deflection, intake as intake_service, routing, ticket_similarity, triage_service

    permissions.require(permissions.can_file_ticket(actor), "Log in to file a ticket.")
    if requester is None:
        requester = actor
    elif requester.id != actor.id:
        permissions.require(permissions.can_file_on_behalf(actor),
                            "Only support agents can file a ticket for someone else.")
        if not requester.is_active:
            raise ValidationError("That person's account is deactivated.", "requester_id")
    if channel not in CHANNELS:
        raise ValidationError(f"Unknown channel {channel!r}; one of {', '.join(CHANNELS)}.", "channel")
    contact_email = (contact_email or requester.email or "").strip().lower() or None
    if contact_email and (len(contact_email) > 254 or not EMAIL_RE.match(contact_email)):
        raise ValidationError("Enter a valid email address for updates.", "contact_email")
    now = now or utcnow()
    ticket = Ticket(title=_clean(title, TITLE_MAX, "title", "title"),
                    description=_clean(description, DESCRIPTION_MAX, "description", "description"),
                    requester_id=requester.id, status="new", created_at=now, updated_at=now, channel=channel,
                    contact_email=contact_email,
                    contact_phone=(contact_phone or requester.phone or "").strip()[:40] or None,
                    language=requester.locale)
    if intake is not None:
        intake_service.require_writable(intake, requester)
        ticket.intake_session = intake
    session.add(ticket)
    session.flush()
    suggestion = triage_service.suggest(session, ticket.text, embedder, language=ticket.language)
    triage_service.apply_to_new_ticket(session, ticket, suggestion, chosen={
        "category_id": category_id, "subcategory_id": subcategory_id, "impact": impact, "urgency": urgency})
    record_event(session, actor, ticket, CREATED, to_status="new", data={"channel": channel}, now=now)
    if embedder is not None:
        ticket_similarity.store_vector(session, ticket, embedder)
    if route:
        routing.route(session, ticket, now=now)
    if intake is not None:
        intake_service.record_ticket_filed(session, intake, ticket, now=now)
    deflection.fail_deflections(session, ticket, matcher, window_days=window_days, now=now)
    _confirm_receipt(session, ticket, intake, suggested, now)
    return ticket


def _confirm_receipt(session: Session, ticket: Ticket, intake, suggested, now: datetime) -> None:
    """The "received" notification: the reference, and the articles we suggested."""
    from kb import intake as intake_service
    from kb.notifications import notify, ticket_path

    if suggested is None:
        suggested = intake_service.last_suggestions(session, intake) if intake is not None else []
    links = [("Follow your ticket", ticket_path(ticket)), *suggested[:5]]
    text = f"We received your request {ticket.reference} “{ticket.title}” ({ticket.priority} priority)."
    body = None
    if suggested:
        body = "While you wait, these articles may help:\n" + "\n".join(f"- {title}" for title, _ in suggested[:5])
    notify(session, ticket.requester_id, "received", text, ticket=ticket, now=now, body=body, links=links)


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

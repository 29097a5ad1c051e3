"""The records that hang off a ticket besides its conversation: attachments, collaborators,
resolution plans, linked articles, triage corrections, the satisfaction survey, and the
in-app notifications the scheduler and the lifecycle send.

Models only; the services live in :mod:`kb.attachments`, :mod:`kb.ticket_work`,
:mod:`kb.triage_service`, :mod:`kb.surveys` and :mod:`kb.notifications`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.db import Base, UTCDateTime, utcnow
from kb.users import User

ATTACHMENT_PURPOSES = ("attachment", "evidence")
TRIAGE_FIELDS = ("category", "subcategory", "priority", "team")
RATING_MIN, RATING_MAX = 1, 5


class TicketAttachment(Base):
    """A file on a ticket, stored outside the web root under ``stored_name`` (generated)."""

    __tablename__ = "ticket_attachment"
    __table_args__ = (
        CheckConstraint(f"purpose IN ({', '.join(repr(p) for p in ATTACHMENT_PURPOSES)})", name="purpose_valid"),
        CheckConstraint("size >= 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_message.id"), nullable=True, index=True)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))         # as uploaded, for display and download
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))    # sniffed from the content
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(12), default="attachment")  # evidence = diagnosis evidence
    internal: Mapped[bool] = mapped_column(Boolean, default=False)          # staff only (e.g. on a note)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    uploader: Mapped[User | None] = relationship()


class TicketCollaborator(Base):
    """Another agent, or a whole team, brought into a ticket."""

    __tablename__ = "ticket_collaborator"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="user_or_team"),
        UniqueConstraint("ticket_id", "user_id", name="uq_ticket_collaborator_user"),
        UniqueConstraint("ticket_id", "team_id", name="uq_ticket_collaborator_team"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), nullable=True, index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])


class ResolutionPlan(Base):
    """Diagnosis and resolution plan; a new row per revision (the latest is current)."""

    __tablename__ = "resolution_plan"
    __table_args__ = (Index("ix_resolution_plan_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    diagnosis: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[str] = mapped_column(Text, default="")
    expected_effect: Mapped[str] = mapped_column(Text, default="")
    risks: Mapped[str] = mapped_column(Text, default="")  # risks and how they are handled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship()


class TicketArticleLink(Base):
    """A knowledge article used for the resolution."""

    __tablename__ = "ticket_article_link"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id"), primary_key=True, index=True)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TriageCorrection(Base):
    """Someone changed what triage suggested (or an earlier choice): the ground truth for accuracy."""

    __tablename__ = "triage_correction"
    __table_args__ = (
        CheckConstraint(f"field IN ({', '.join(repr(f) for f in TRIAGE_FIELDS)})", name="field_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    field: Mapped[str] = mapped_column(String(20))
    suggested: Mapped[str | None] = mapped_column(String(80), nullable=True)
    previous: Mapped[str | None] = mapped_column(String(80), nullable=True)
    chosen: Mapped[str | None] = mapped_column(String(80), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    actor_role: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PriorityMatrixCell(Base):
    """The admin-editable impact x urgency matrix (kb.triage.priority.DEFAULT_MATRIX seeds it)."""

    __tablename__ = "priority_matrix_cell"
    __table_args__ = (CheckConstraint("priority IN ('high', 'medium', 'low')", name="priority_valid"),)

    impact: Mapped[str] = mapped_column(String(10), primary_key=True)
    urgency: Mapped[str] = mapped_column(String(10), primary_key=True)
    priority: Mapped[str] = mapped_column(String(10))


class SurveyResponse(Base):
    """The requester's ratings after closure: one per ticket, tied to the agent and team."""

    __tablename__ = "survey_response"
    __table_args__ = (
        *(CheckConstraint(f"{c} BETWEEN {RATING_MIN} AND {RATING_MAX}", name=f"{c}_range")
          for c in ("speed", "effectiveness", "communication")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), unique=True)
    respondent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), nullable=True, index=True)
    speed: Mapped[int] = mapped_column(Integer)
    effectiveness: Mapped[int] = mapped_column(Integer)
    communication: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """An in-app message to one person (reminders, escalations, assignments, replies).

    Email delivery of the same rows is the channels issue's job."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TicketVector(Base):
    """The ticket text's embedding, for similar tickets and triage by nearest neighbours."""

    __tablename__ = "ticket_vector"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(120))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, normalised

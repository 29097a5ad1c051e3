"""Intake sessions: what a requester typed, what we showed, what they opened, how it ended.

Tables only; the rules live in ``kb.intake`` (recording, sweep) and
``kb.deflection`` (honest deflection, the report).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.articles_models import Article
from kb.db import Base, UTCDateTime, utcnow
from kb.users import User

DEFLECTED = "deflected"
TICKET = "ticket"
ABANDONED = "abandoned"
OUTCOMES = (DEFLECTED, TICKET, ABANDONED)
TOKEN_CHARS = 64


class IntakeSession(Base):
    """One visit to "Get help", created on the first query (not on a bare page view)."""

    __tablename__ = "intake_session"
    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR outcome IN ({', '.join(repr(o) for o in OUTCOMES)})",
                        name="outcome_valid"),
        CheckConstraint("deflected_article_id IS NULL OR outcome = 'deflected'", name="article_only_if_deflected"),
        CheckConstraint("(outcome IS NULL) = (outcome_at IS NULL)", name="outcome_has_time"),
        Index("ix_intake_session_outcome_activity", "outcome", "last_activity_at"),
        Index("ix_intake_session_user_outcome", "user_id", "outcome", "outcome_at"),
        # Self-service insights over a period (counts, deflections per article): covering.
        Index("ix_intake_session_period", "started_at", "outcome", "deflected_article_id", "user_id", "outcome_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(TOKEN_CHARS), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(12), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deflected_article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", ondelete="SET NULL"),
                                                             nullable=True)

    user: Mapped[User | None] = relationship()
    deflected_article: Mapped[Article | None] = relationship()
    queries: Mapped[list["IntakeQuery"]] = relationship(back_populates="intake", order_by="IntakeQuery.seq",
                                                        cascade="all, delete-orphan", passive_deletes=True)
    opens: Mapped[list["IntakeOpen"]] = relationship(back_populates="intake", order_by="IntakeOpen.id",
                                                     cascade="all, delete-orphan", passive_deletes=True)
    failure: Mapped["DeflectionFailure | None"] = relationship(back_populates="intake", uselist=False,
                                                                cascade="all, delete-orphan", passive_deletes=True)

    @property
    def last_query(self) -> "IntakeQuery | None":
        return self.queries[-1] if self.queries else None

    def __repr__(self) -> str:
        return f"<IntakeSession {self.id} {self.outcome or 'open'}>"


class IntakeQuery(Base):
    """A text as it stood at a debounce point; consecutive duplicates are stored once."""

    __tablename__ = "intake_query"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="session_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("intake_session.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    intake: Mapped[IntakeSession] = relationship(back_populates="queries")
    impressions: Mapped[list["IntakeImpression"]] = relationship(
        back_populates="query", order_by="IntakeImpression.rank", cascade="all, delete-orphan", passive_deletes=True)


class IntakeImpression(Base):
    """Article shown at a rank (1 = top) for one query."""

    __tablename__ = "intake_impression"
    __table_args__ = (
        UniqueConstraint("query_id", "article_id", name="query_article"),
        UniqueConstraint("query_id", "rank", name="query_rank"),
        CheckConstraint("rank >= 1", name="rank_positive"),
        Index("ix_intake_impression_article", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("intake_query.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)

    query: Mapped[IntakeQuery] = relationship(back_populates="impressions")
    article: Mapped[Article] = relationship()


class IntakeOpen(Base):
    """A suggestion the requester opened, with the query and rank it was shown at."""

    __tablename__ = "intake_open"
    __table_args__ = (
        Index("ix_intake_open_session", "session_id", "article_id"),
        CheckConstraint("rank IS NULL OR rank >= 1", name="rank_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("intake_session.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    query_id: Mapped[int | None] = mapped_column(ForeignKey("intake_query.id", ondelete="SET NULL"), nullable=True)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    intake: Mapped[IntakeSession] = relationship(back_populates="opens")
    article: Mapped[Article] = relationship()


class DeflectionFailure(Base):
    """A "this solved my problem" that did not hold: the requester filed a ticket on the same
    problem within the window. A table of its own, so intake_session and ticket reference
    each other without a foreign-key cycle."""

    __tablename__ = "deflection_failure"
    __table_args__ = (CheckConstraint("rule IN ('same_session', 'similar_text', 'same_article')", name="rule_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("intake_session.id", ondelete="CASCADE"), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rule: Mapped[str] = mapped_column(String(20))
    similarity: Mapped[float | None] = mapped_column(Float, nullable=True)

    intake: Mapped[IntakeSession] = relationship(back_populates="failure")
    ticket: Mapped["Ticket"] = relationship()  # noqa: F821 - kb.tickets registers it

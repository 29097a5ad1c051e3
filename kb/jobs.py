"""The job table: the embedded default's queue for search-index updates.

A job carries ids, not objects. It is enqueued in the same transaction as the
change it follows, so a committed change always has its job, and a rolled-back
change never does. Processing is idempotent, so running a job twice is safe.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kb.db import Base, UTCDateTime, utcnow

KINDS = ("index_article",)


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("kind IN ('index_article')", name="kind_valid"),
        Index("ix_job_pending", "done_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


MAX_ATTEMPTS = 5


def enqueue(session: Session, kind: str, target_id: int) -> Job:
    """Add a job to the caller's transaction (flushes, never commits)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(kind=kind, target_id=target_id)
    session.add(job)
    session.flush()
    return job


def pending(session: Session, limit: int = 100) -> list[Job]:
    return list(session.scalars(
        select(Job).where(Job.done_at.is_(None), Job.attempts < MAX_ATTEMPTS).order_by(Job.id).limit(limit)
    ))


def pending_count(session: Session) -> int:
    from sqlalchemy import func
    return session.scalar(select(func.count(Job.id)).where(Job.done_at.is_(None), Job.attempts < MAX_ATTEMPTS)) or 0


def failed(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.done_at.is_(None), Job.attempts >= MAX_ATTEMPTS).order_by(Job.id)))

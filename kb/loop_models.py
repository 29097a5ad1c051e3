"""The records of closing the loop (issue 5): where an article came from, proposed updates
to existing articles, and trainers' collections (learning paths) with assignments and
each learner's progress.

Models only; the services live in :mod:`kb.drafting` (drafts from tickets, dedup,
batches), :mod:`kb.article_health` and :mod:`kb.collections`.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from kb.articles_models import Article

SUGGESTION_STATUSES = ("open", "applied", "dismissed")
COLLECTION_STATUSES = ("draft", "published")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ArticleSource(Base):
    """A ticket an article was drafted from (the link back to the source tickets)."""

    __tablename__ = "article_source"

    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArticleSuggestion(Base):
    """"Update article X" instead of a second article: the new resolution from a ticket,
    proposed as an addition to an existing article, until an editor applies or dismisses it."""

    __tablename__ = "article_suggestion"
    __table_args__ = (CheckConstraint(_in("status", SUGGESTION_STATUSES), name="status_valid"),
                      Index("ix_article_suggestion_article_status", "article_id", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True)
    addition: Mapped[str] = mapped_column(Text)        # Markdown, de-personalised
    similarity: Mapped[int] = mapped_column(Integer, default=0)  # per mille, for display
    status: Mapped[str] = mapped_column(String(10), default="open")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The new revision it became (applied), so the history links back to the proposal.
    revision_number: Mapped[int | None] = mapped_column(Integer, nullable=True)

    article: Mapped["Article"] = relationship("Article", viewonly=True)


class ArticleSuggestionTicket(Base):
    """The tickets a suggestion came from (one from a ticket page, several from a batch):
    while it is open or applied, those tickets count as covered by an article."""

    __tablename__ = "article_suggestion_ticket"

    suggestion_id: Mapped[int] = mapped_column(ForeignKey("article_suggestion.id", ondelete="CASCADE"),
                                               primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True, index=True)


class Collection(Base):
    """A trainer's learning path: ordered sections of articles with an introduction; an
    audience of roles (comma-separated) and/or one team; draft or published."""

    __tablename__ = "collection"
    __table_args__ = (CheckConstraint(_in("status", COLLECTION_STATUSES), name="status_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    audience_roles: Mapped[str] = mapped_column(String(100), default="")
    audience_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CollectionSection(Base):
    __tablename__ = "collection_section"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(Text, default="")


class CollectionItem(Base):
    """One step: an article, in order within its section, with the trainer's note."""

    __tablename__ = "collection_item"
    __table_args__ = (UniqueConstraint("section_id", "article_id", name="uq_collection_item_article"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("collection_section.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")


class CollectionAssignment(Base):
    """A collection assigned to one person or a whole team, with a due date."""

    __tablename__ = "collection_assignment"
    __table_args__ = (CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="user_or_team"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), nullable=True, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), nullable=True, index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LearningProgress(Base):
    """A learner's progress on one article of a collection: opened, marked done (and at
    which revision, so a material change later can tell them what changed)."""

    __tablename__ = "learning_progress"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outdated: Mapped[bool] = mapped_column(Boolean, default=False)  # the article changed materially since

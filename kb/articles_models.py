"""Knowledge articles, their revisions, tags and votes (the tables only).

The rules that change them live in ``kb.articles``; this module is imported by
everything that reads articles, so it stays free of business logic.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.db import Base, UTCDateTime, utcnow
from kb.taxonomy import Category
from kb.users import User

STATUSES = ("draft", "in_review", "published", "archived")
AUDIENCES = ("public", "internal")
LANGS = ("en", "zh")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


article_tag = Table(
    "article_tag", Base.metadata,
    Column("article_id", ForeignKey("article.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Article(Base):
    __tablename__ = "article"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_valid"),
        CheckConstraint(_in("audience", AUDIENCES), name="audience_valid"),
        CheckConstraint(_in("lang", LANGS), name="lang_valid"),
        Index("ix_article_status_audience", "status", "audience"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # Markdown source; rendered and sanitised on display
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    subcategory_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True)
    audience: Mapped[str] = mapped_column(String(10), default="public")
    status: Mapped[str] = mapped_column(String(12), default="draft")
    lang: Mapped[str] = mapped_column(String(5), default="en")
    source_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    # Last time a lead published or confirmed it as still right (article health: stale after
    # a configurable time without review).
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    category: Mapped[Category] = relationship(foreign_keys=[category_id])
    subcategory: Mapped[Category | None] = relationship(foreign_keys=[subcategory_id])
    author: Mapped[User | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=article_tag, order_by=Tag.name)
    revisions: Mapped[list["ArticleRevision"]] = relationship(
        back_populates="article", order_by="ArticleRevision.number", cascade="all, delete-orphan")

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]

    def __repr__(self) -> str:
        return f"<Article {self.id} {self.status} {self.title!r}>"


class ArticleRevision(Base):
    """One row per saved edit or status change: who, when, and the full content then."""

    __tablename__ = "article_revision"
    __table_args__ = (UniqueConstraint("article_id", "number", name="article_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    subcategory_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), nullable=True)
    tags: Mapped[str] = mapped_column(Text, default="")  # comma-separated, as it was then
    audience: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(String(500), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    article: Mapped[Article] = relationship(back_populates="revisions")
    author: Mapped[User | None] = relationship()


class ArticleVote(Base):
    """"Was this helpful?" One vote per user (or per anonymous browser session) per article."""

    __tablename__ = "article_vote"
    __table_args__ = (UniqueConstraint("article_id", "voter_key", name="one_vote"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"), index=True)
    voter_key: Mapped[str] = mapped_column(String(80))  # "user:12" or "anon:<random session key>"
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

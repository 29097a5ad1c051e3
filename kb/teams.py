"""Teams, the categories they own, and the agents in them (skills, languages, capacity).

Routing (:mod:`kb.routing`) reads these: a new ticket goes to the team that owns its
category (a subcategory without an owner of its own falls back to its parent's), and
within the team to a skilled agent with the least open weighted workload.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb.db import Base, UTCDateTime, utcnow
from kb.users import User

DEFAULT_CAPACITY = 10


class Team(Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120), default="")
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[User | None] = relationship()
    members: Mapped[list["TeamMember"]] = relationship(back_populates="team", cascade="all, delete-orphan")

    def label(self, locale: str | None = None) -> str:
        return self.name_zh if locale and locale.startswith("zh") and self.name_zh else self.name

    def __repr__(self) -> str:
        return f"<Team {self.name!r}>"


class TeamMember(Base):
    __tablename__ = "team_member"

    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class TeamCategory(Base):
    """Ownership: each category is owned by at most one team."""

    __tablename__ = "team_category"

    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)

    team: Mapped[Team] = relationship()


class AgentProfile(Base):
    """How much an agent can carry and what they speak; absent means the defaults."""

    __tablename__ = "agent_profile"
    __table_args__ = (CheckConstraint("capacity > 0", name="capacity_positive"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer, default=DEFAULT_CAPACITY)
    languages: Mapped[str] = mapped_column(String(60), default="en")  # comma-separated locale codes
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # round-robin on ties

    user: Mapped[User] = relationship()

    @property
    def language_list(self) -> list[str]:
        return [x.strip() for x in (self.languages or "").split(",") if x.strip()]


class AgentSkill(Base):
    """An agent handles tickets of this category (a top category covers its subcategories)."""

    __tablename__ = "agent_skill"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="CASCADE"), primary_key=True)

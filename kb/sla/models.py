"""SLA configuration as data: calendars, holidays, per-priority targets and the auto-close rule.

Admins change these without a deploy; the clock itself (:mod:`kb.sla.clock`) never
touches the database, so rows are turned into value objects with
:func:`calendar_from_row` and :func:`clock_policy_from_row` at the edge.

The defaults (:func:`seed_sla_defaults`) follow the published "Response time
expectations" article (demo-066), so what requesters read is what the clock does:
business hours Monday to Friday 07:00-19:00, the High priority round the clock.
"""
from __future__ import annotations

import datetime as dt
import json
from datetime import timedelta

from sqlalchemy import (Boolean, CheckConstraint, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                        select)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, validates

from kb.db import Base, UTCDateTime, utcnow
from kb.errors import NotFound, ValidationError
from kb.sla.calendar import DAY_NAMES, BusinessCalendar, format_intervals, parse_intervals
from kb.sla.clock import ClockPolicy

PRIORITIES = ("high", "medium", "low")
DEFAULT_SET = "default"
BUSINESS_HOURS = "Business hours"
ROUND_THE_CLOCK = "24x7"


def hours_to_json(hours) -> str:
    """Canonical JSON for a week: ``{"mon": ["09:00-17:30"], ..., "sun": []}``."""
    week = {name: [] for name in DAY_NAMES}
    for key, value in dict(hours).items():
        name = DAY_NAMES[key] if isinstance(key, int) else str(key).strip().lower()[:3]
        if name not in week:
            raise ValidationError(f"{key!r} is not a weekday (mon..sun)", "hours")
        week[name] = format_intervals(parse_intervals(value))
    if not any(week.values()):
        raise ValidationError("the calendar has no working time in its week", "hours")
    return json.dumps(week)


def _load_week(text: str) -> dict:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise ValidationError("working hours are not valid JSON", "hours") from None
    if not isinstance(data, dict):
        raise ValidationError("working hours must map weekdays to intervals", "hours")
    return data


class BusinessCalendarRow(Base):
    __tablename__ = "sla_calendar"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    hours_json: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    holidays: Mapped[list["Holiday"]] = relationship(back_populates="calendar", cascade="all, delete-orphan",
                                                     order_by="Holiday.date")

    @validates("name")
    def _check_name(self, _key, value):
        value = (value or "").strip()
        if not value:
            raise ValidationError("a calendar needs a name", "name")
        return value

    @validates("timezone")
    def _check_timezone(self, _key, value):
        BusinessCalendar.always(value)  # raises ValidationError(field="timezone")
        return value

    @validates("hours_json")
    def _check_hours(self, _key, value):
        return hours_to_json(_load_week(value))

    @property
    def hours(self) -> dict[str, list[str]]:
        return json.loads(self.hours_json)

    def __repr__(self) -> str:
        return f"<BusinessCalendarRow {self.name!r} {self.timezone}>"


class Holiday(Base):
    """A date the desk is closed; with ``hours_json`` set, a date with special hours instead."""

    __tablename__ = "sla_holiday"
    __table_args__ = (UniqueConstraint("calendar_id", "date", name="uq_sla_holiday_calendar_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("sla_calendar.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(120), default="")
    hours_json: Mapped[str | None] = mapped_column(Text, nullable=True)

    calendar: Mapped[BusinessCalendarRow] = relationship(back_populates="holidays")

    @validates("hours_json")
    def _check_hours(self, _key, value):
        if value is None:
            return None
        try:
            spans = json.loads(value)
        except (TypeError, ValueError):
            raise ValidationError("special hours are not valid JSON", "hours") from None
        return json.dumps(format_intervals(parse_intervals(spans, "hours")))


class SlaPolicy(Base):
    """Targets for one priority within a policy set (one set, "default", for now)."""

    __tablename__ = "sla_policy"
    __table_args__ = (
        UniqueConstraint("policy_set", "priority", name="uq_sla_policy_set_priority"),
        CheckConstraint(f"priority IN ({', '.join(repr(p) for p in PRIORITIES)})", name="priority_valid"),
        CheckConstraint("first_response_minutes > 0 AND resolution_minutes > 0", name="targets_positive"),
        CheckConstraint("reminder_share > 0 AND reminder_share < 1", name="reminder_share_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_set: Mapped[str] = mapped_column(String(40), default=DEFAULT_SET)
    priority: Mapped[str] = mapped_column(String(10))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("sla_calendar.id"), index=True)
    reminder_share: Mapped[float] = mapped_column(Float, default=0.75)

    calendar: Mapped[BusinessCalendarRow] = relationship()

    @validates("priority")
    def _check_priority(self, _key, value):
        if value not in PRIORITIES:
            raise ValidationError(f"priority must be one of {', '.join(PRIORITIES)}", "priority")
        return value

    @validates("first_response_minutes", "resolution_minutes")
    def _check_minutes(self, key, value):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError("targets are a positive number of minutes", key)
        return value

    @validates("reminder_share")
    def _check_share(self, _key, value):
        if not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValidationError("the reminder share is a fraction between 0 and 1, e.g. 0.75", "reminder_share")
        return float(value)


class AutoCloseRule(Base):
    """Resolved tickets the requester did not answer close after ``after_days``.

    With a calendar the days are business days of that calendar; without one, 24-hour days.
    """

    __tablename__ = "sla_auto_close_rule"
    __table_args__ = (CheckConstraint("after_days > 0", name="after_days_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True, default=DEFAULT_SET)
    after_days: Mapped[int] = mapped_column(Integer, default=5)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("sla_calendar.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    calendar: Mapped[BusinessCalendarRow | None] = relationship()

    @validates("after_days")
    def _check_days(self, _key, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("auto-close needs at least one day", "after_days")
        return value


def calendar_from_row(row: BusinessCalendarRow) -> BusinessCalendar:
    """The value object the clock computes with; holidays with hours become overrides."""
    holidays = [h.date for h in row.holidays if h.hours_json is None]
    overrides = {h.date: json.loads(h.hours_json) for h in row.holidays if h.hours_json is not None}
    return BusinessCalendar.build(row.timezone, _load_week(row.hours_json), holidays, overrides, name=row.name)


def clock_policy_from_row(policy: SlaPolicy) -> ClockPolicy:
    return ClockPolicy(calendar=calendar_from_row(policy.calendar),
                       first_response=timedelta(minutes=policy.first_response_minutes),
                       resolution=timedelta(minutes=policy.resolution_minutes),
                       reminder_share=policy.reminder_share, priority=policy.priority)


def get_policy(session: Session, priority: str, policy_set: str = DEFAULT_SET) -> SlaPolicy:
    policy = session.scalar(select(SlaPolicy).filter_by(policy_set=policy_set, priority=priority))
    if policy is None:
        raise NotFound(f"no SLA policy for priority {priority!r}")
    return policy


# name, weekly hours; then priority -> (calendar, first response minutes, resolution minutes)
_WEEKDAY_HOURS = {d: "07:00-19:00" for d in DAY_NAMES[:5]}
_ALWAYS = {d: "00:00-24:00" for d in DAY_NAMES}
_DEFAULT_POLICIES = {
    "high": (ROUND_THE_CLOCK, 15, 4 * 60),            # P1: 15 minutes / 4 hours, 24x7
    "medium": (BUSINESS_HOURS, 4 * 60, 3 * 12 * 60),  # 4 business hours / 3 business days
    "low": (BUSINESS_HOURS, 12 * 60, 5 * 12 * 60),    # 1 business day / 5 business days
}


def seed_sla_defaults(session: Session, timezone: str = "UTC") -> int:
    """Insert the default calendars, policies and auto-close rule; existing rows are left
    alone, so an admin's changes survive. Returns the number of rows added. Flushes."""
    added = 0
    calendars = {c.name: c for c in session.scalars(select(BusinessCalendarRow))}
    for name, hours in ((BUSINESS_HOURS, _WEEKDAY_HOURS), (ROUND_THE_CLOCK, _ALWAYS)):
        if name not in calendars:
            calendars[name] = BusinessCalendarRow(name=name, timezone=timezone, hours_json=json.dumps(hours))
            session.add(calendars[name])
            added += 1
    session.flush()
    existing = {p.priority for p in session.scalars(select(SlaPolicy).filter_by(policy_set=DEFAULT_SET))}
    for priority, (cal_name, response, resolution) in _DEFAULT_POLICIES.items():
        if priority not in existing:
            session.add(SlaPolicy(policy_set=DEFAULT_SET, priority=priority, first_response_minutes=response,
                                  resolution_minutes=resolution, calendar_id=calendars[cal_name].id,
                                  reminder_share=0.75))
            added += 1
    if session.scalar(select(AutoCloseRule).filter_by(name=DEFAULT_SET)) is None:
        session.add(AutoCloseRule(name=DEFAULT_SET, after_days=5, calendar_id=calendars[BUSINESS_HOURS].id))
        added += 1
    session.flush()
    return added

"""The operating manual, read from the live configuration (process step 10).

Nothing here is written by hand: categories and their owning teams, the priority matrix,
the SLA targets with their calendars, reminders, escalation and auto-close all come from
the tables the product runs on, so the manual cannot drift from what the system does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb.sla.calendar import DAY_NAMES
from kb.sla.models import (DEFAULT_SET, PRIORITIES, AutoCloseRule, BusinessCalendarRow, Holiday, SlaPolicy,
                           calendar_from_row)
from kb.taxonomy import Category, top_categories
from kb.teams import Team, TeamCategory
from kb.triage.priority import DEFAULT_MATRIX, IMPACT_LEVELS, URGENCY_LEVELS

HOLIDAYS_SHOWN = 30


@dataclass(frozen=True)
class Owned:
    category: Category
    team: Team | None
    inherited: bool = False       # no owner of its own: the parent category's team handles it


@dataclass(frozen=True)
class CategoryEntry:
    owned: Owned
    subcategories: list[Owned]


@dataclass(frozen=True)
class PolicyEntry:
    priority: str
    first_response: timedelta
    resolution: timedelta
    reminder_share: float
    calendar: str
    business_day: timedelta | None    # one working day of that calendar, to read long targets

    @property
    def first_response_reminder(self) -> timedelta:
        return self.first_response * self.reminder_share

    @property
    def resolution_reminder(self) -> timedelta:
        return self.resolution * self.reminder_share


@dataclass(frozen=True)
class CalendarEntry:
    name: str
    timezone: str
    hours: list[tuple[str, list[str]]]   # (weekday key, intervals), Monday first
    holidays: list[Holiday]               # upcoming closed dates and dates with special hours
    always_open: bool

    @staticmethod
    def special_hours(holiday: Holiday) -> list[str]:
        return json.loads(holiday.hours_json) if holiday.hours_json else []


@dataclass(frozen=True)
class AutoCloseEntry:
    after_days: int
    calendar: str | None                  # None: 24-hour days


@dataclass(frozen=True)
class ServiceManual:
    categories: list[CategoryEntry]
    matrix: dict[str, dict[str, str]]     # impact -> urgency -> "high" | "medium" | "low"
    impacts: list[str]
    urgencies: list[str]
    policies: list[PolicyEntry]
    calendars: list[CalendarEntry]
    auto_close: AutoCloseEntry | None

    @property
    def sla_configured(self) -> bool:
        return bool(self.policies)

    @property
    def reminder_share(self) -> float | None:
        """The reminder share when every priority uses the same one (the usual case)."""
        shares = {p.reminder_share for p in self.policies}
        return shares.pop() if len(shares) == 1 else None

    def policy(self, priority: str) -> PolicyEntry | None:
        return next((p for p in self.policies if p.priority == priority), None)


def priority_matrix(session: Session) -> dict[str, dict[str, str]]:
    """The admin-edited matrix when :mod:`kb.triage_service` is present, else the default."""
    try:
        from kb import triage_service
        source = triage_service.matrix(session)
    except ImportError:
        source = DEFAULT_MATRIX
    return {impact: {urgency: str(value).lower() for urgency, value in row.items()}
            for impact, row in source.items()}


def _categories(session: Session) -> list[CategoryEntry]:
    owners = {tc.category_id: tc.team for tc in session.scalars(
        select(TeamCategory).options(selectinload(TeamCategory.team)))}
    entries = []
    for top in top_categories(session):
        team = owners.get(top.id)
        subs = [Owned(sub, owners.get(sub.id) or team, inherited=sub.id not in owners and team is not None)
                for sub in top.children]
        entries.append(CategoryEntry(Owned(top, team), subs))
    return entries


def _business_day(row: BusinessCalendarRow) -> timedelta | None:
    cal = calendar_from_row(row)
    days = [d for d in cal.week if d]
    if len(days) == 7 and all(d == ((0, 1440),) for d in days):
        return None  # 24x7: targets read as plain hours
    return cal.nominal_week / len(days)


def service_manual(session: Session, today: date) -> ServiceManual:
    """Everything the manual page shows; ``today`` picks the upcoming holidays."""
    rows = list(session.scalars(select(SlaPolicy).where(SlaPolicy.policy_set == DEFAULT_SET)
                                .options(selectinload(SlaPolicy.calendar))))
    rows.sort(key=lambda r: PRIORITIES.index(r.priority))
    policies = [PolicyEntry(r.priority, timedelta(minutes=r.first_response_minutes),
                            timedelta(minutes=r.resolution_minutes), r.reminder_share, r.calendar.name,
                            _business_day(r.calendar)) for r in rows]
    calendars = []
    for cal in session.scalars(select(BusinessCalendarRow).where(BusinessCalendarRow.active.is_(True))
                               .order_by(BusinessCalendarRow.name)):
        hours = cal.hours
        week = [(day, hours.get(day, [])) for day in DAY_NAMES]
        upcoming = list(session.scalars(select(Holiday).where(Holiday.calendar_id == cal.id, Holiday.date >= today)
                                        .order_by(Holiday.date).limit(HOLIDAYS_SHOWN)))
        calendars.append(CalendarEntry(cal.name, cal.timezone, week, upcoming,
                                       all(h == ["00:00-24:00"] for _, h in week)))
    rule = session.scalar(select(AutoCloseRule).where(AutoCloseRule.name == DEFAULT_SET,
                                                      AutoCloseRule.active.is_(True)))
    auto_close = None
    if rule is not None:
        auto_close = AutoCloseEntry(rule.after_days, rule.calendar.name if rule.calendar else None)
    return ServiceManual(categories=_categories(session), matrix=priority_matrix(session),
                         impacts=list(IMPACT_LEVELS), urgencies=list(URGENCY_LEVELS), policies=policies,
                         calendars=calendars, auto_close=auto_close)

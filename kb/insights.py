"""Insights for leads and admins (issue 6, first part): the filters, ticket volume over time and
the backlog; the period's indicators and triage quality are in :mod:`kb.insight_figures`.

Every figure is one aggregate SQL statement (GROUP BY in the database, never a loop over
tickets), so the dashboard's cost grows with the number of days and groups, not tickets.
Days are UTC calendar days (``date(created_at)``, which SQLite and PostgreSQL both have);
periods longer than :data:`DAILY_MAX_DAYS` are shown per ISO week, folded from the daily
counts in Python (at most 366 of them).

The result is a :class:`Chart`: labels along the axis and one row of numbers per group,
what the portal draws as stacked bars and exports as CSV.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from kb import permissions
from kb.db import utcnow
from kb.errors import ValidationError
from kb.taxonomy import Category
from kb.ticket_flow import OPEN_STATUSES
from kb.tickets import CHANNELS, PRIORITY_KEYS, Ticket

MAX_DAYS = 366
DAILY_MAX_DAYS = 62
GROUPINGS = ("category", "channel", "priority")
AGE_BUCKETS = ((1, "under 1 day"), (3, "1–3 days"), (7, "3–7 days"), (30, "1–4 weeks"), (None, "over 4 weeks"))
NONE_LABEL = "(none)"


@dataclass(frozen=True)
class Filters:
    """What the dashboard looks at: tickets filed from ``since`` to ``until`` (days, inclusive),
    optionally of one team, one top category (its subcategories included) and one channel."""

    since: date
    until: date
    team_id: int | None = None
    category_id: int | None = None
    channel: str | None = None

    def __post_init__(self):
        if self.until < self.since:
            raise ValidationError("The end date is before the start date.", "until")
        if (self.until - self.since).days + 1 > MAX_DAYS:
            raise ValidationError(f"Choose at most {MAX_DAYS} days.", "since")
        if self.channel is not None and self.channel not in CHANNELS:
            raise ValidationError(f"Unknown channel {self.channel!r}.", "channel")

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=timezone.utc)


@dataclass
class Chart:
    """Stacked series: ``labels`` along the axis, ``series`` as (group name, one value per label)."""

    labels: list[str]
    series: list[tuple[str, list[int]]] = field(default_factory=list)

    @property
    def totals(self) -> list[int]:
        return [sum(values[i] for _, values in self.series) for i in range(len(self.labels))]

    @property
    def total(self) -> int:
        return sum(self.totals)

    def rows(self) -> list[list]:
        """The numbers as a table: a header, then one row per label (for CSV and the table view)."""
        head = [""] + [name for name, _ in self.series] + ["total"]
        return [head] + [[label] + [values[i] for _, values in self.series] + [self.totals[i]]
                         for i, label in enumerate(self.labels)]


def scope(f: Filters, *, period: bool = True) -> list:
    """The SQL conditions on tickets for these filters (``period=False``: any filing date)."""
    conds = []
    if period:
        conds += [Ticket.created_at >= f.start, Ticket.created_at < f.end]
    if f.team_id is not None:
        conds.append(Ticket.team_id == f.team_id)
    if f.category_id is not None:
        sub = aliased(Category)
        conds.append((Ticket.category_id == f.category_id)
                     | Ticket.category_id.in_(select(sub.id).where(sub.parent_id == f.category_id)))
    if f.channel is not None:
        conds.append(Ticket.channel == f.channel)
    return conds


def _group_column(session: Session, by: str):
    """The SQL expression to group by and {its value: the series name}, in display order."""
    if by == "channel":
        return Ticket.channel, {c: c for c in CHANNELS}
    if by == "priority":
        return Ticket.priority, {p: p for p in PRIORITY_KEYS}
    # the top category (a ticket may store a subcategory as its category)
    top = func.coalesce(Category.parent_id, Category.id)
    names = {c.id: c.name for c in session.scalars(select(Category).where(Category.parent_id.is_(None))
                                                  .order_by(Category.position, Category.id))}
    return top, names


def buckets(f: Filters) -> tuple[list[str], dict[str, int]]:
    """The axis of a chart over time: its labels (days, or the Mondays of ISO weeks for long
    periods) and {day as ``YYYY-MM-DD``: the index of its label}."""
    days = [f.since + timedelta(days=i) for i in range((f.until - f.since).days + 1)]
    weekly = len(days) > DAILY_MAX_DAYS
    labels, bucket_of = [], {}
    for d in days:
        label = (d - timedelta(days=d.weekday())).isoformat() if weekly else d.isoformat()
        if not labels or labels[-1] != label:
            labels.append(label)
        bucket_of[d.isoformat()] = len(labels) - 1
    return labels, bucket_of


def volume(session: Session, actor, f: Filters, *, by: str = "category") -> Chart:
    """Tickets filed per day (per ISO week for long periods), stacked by ``by``."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    if by not in GROUPINGS:
        raise ValidationError(f"Group by one of {', '.join(GROUPINGS)}.", "by")
    column, groups = _group_column(session, by)
    day = func.date(Ticket.created_at)
    query = select(day, column, func.count(Ticket.id)).where(*scope(f)).group_by(day, column)
    if by == "category":
        query = query.outerjoin(Category, Category.id == Ticket.category_id)
    counts: dict[tuple[str, object], int] = {}
    for d, g, n in session.execute(query):
        counts[(str(d)[:10], g)] = n
    labels, bucket_of = buckets(f)
    order = list(groups.values()) + [NONE_LABEL]
    values: dict[str, list[int]] = {}
    for (d, g), n in counts.items():
        values.setdefault(groups.get(g, NONE_LABEL), [0] * len(labels))[bucket_of[d]] += n
    return Chart(labels=labels, series=[(name, values[name]) for name in order if name in values])


def backlog(session: Session, actor, f: Filters, *, now: datetime | None = None) -> Chart:
    """Open tickets now (whenever they were filed), by age and priority; the period is ignored."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    now = now or utcnow()
    whens = [(Ticket.created_at > now - timedelta(days=days), i) for i, (days, _) in enumerate(AGE_BUCKETS) if days]
    bucket = case(*whens, else_=len(AGE_BUCKETS) - 1)
    rows = session.execute(select(bucket, Ticket.priority, func.count(Ticket.id))
                           .where(Ticket.status.in_(list(OPEN_STATUSES)), *scope(f, period=False))
                           .group_by(bucket, Ticket.priority))
    counts = {(int(b), p): n for b, p, n in rows}
    chart = Chart(labels=[label for _, label in AGE_BUCKETS])
    for priority in PRIORITY_KEYS:
        values = [counts.get((i, priority), 0) for i in range(len(AGE_BUCKETS))]
        if any(values):
            chart.series.append((priority, values))
    return chart

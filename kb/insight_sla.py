"""SLA insights: first-response and resolution times against their targets, compliance, and
breaches by team, for the tickets filed in the dashboard's period.

Times are **business minutes** (what the SLA targets count, see :mod:`kb.sla.clock`), read
from the clock outcomes :func:`kb.ticket_sla.apply_status` keeps on the ticket
(``response_minutes``/``resolution_minutes`` once a clock stopped, ``*_breached_at`` once it
breached), so no clock runs here. Median and 90th percentile are nearest-rank (the value at
rank ⌈p·n⌉ of the sorted stopped clocks): on PostgreSQL by ``percentile_disc`` in the
database; elsewhere (SQLite has no ordered-set aggregates) from one narrow read of the stopped
clocks' minutes (a covering index), ranked in numpy. The bench checks both give the same
numbers. Counts of met and missed targets are aggregated in SQL.

A clock is *met* when it stopped without breaching, *missed* when it breached (even if it
still runs); running clocks are undecided, and a ticket withdrawn (cancelled, merged)
before its target says nothing either way, as in the SLA report (:func:`kb.sla_report.met`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.insight_figures import count_if
from kb.insights import NONE_LABEL, Chart, Filters, scope
from kb.sla.models import DEFAULT_SET, SlaPolicy
from kb.sla_report import WITHDRAWN
from kb.teams import Team
from kb.tickets import PRIORITY_KEYS, Ticket

CLOCKS = ("response", "resolution")


@dataclass(frozen=True)
class ClockFigures:
    """One clock (first response or resolution) for one priority."""

    clock: str
    priority: str
    target: float | None   # business minutes; None when the SLA has no target for it
    stopped: int           # clocks that stopped (the times are over these)
    median: float | None
    p90: float | None
    met: int
    missed: int

    @property
    def compliance(self) -> float | None:
        decided = self.met + self.missed
        return self.met / decided if decided else None


@dataclass(frozen=True)
class SlaFigures:
    clocks: list[ClockFigures]            # per clock, per priority
    by_team: list[tuple[str, int | None, dict]]  # (team name, id, {clock: (met, missed)})

    def of(self, clock: str) -> list[ClockFigures]:
        return [c for c in self.clocks if c.clock == clock]

    def compliance(self, clock: str) -> float | None:
        met = sum(c.met for c in self.of(clock))
        decided = met + sum(c.missed for c in self.of(clock))
        return met / decided if decided else None

    def breaches_chart(self) -> Chart:
        """Missed targets per team (the worst first), stacked by clock."""
        teams = sorted((t for t in self.by_team if any(t[2][c][1] for c in CLOCKS)),
                       key=lambda t: -sum(t[2][c][1] for c in CLOCKS))
        return Chart(labels=[name for name, _, _ in teams],
                     series=[(clock, [counts[clock][1] for _, _, counts in teams]) for clock in CLOCKS])

    def rows(self) -> list[list]:
        head = ["clock", "priority", "target (business minutes)", "stopped", "median", "90th percentile",
                "met", "missed", "compliance"]
        out = [head]
        for c in self.clocks:
            out.append([c.clock, c.priority, _fmt(c.target), c.stopped, _fmt(c.median), _fmt(c.p90), c.met,
                        c.missed, _fmt(c.compliance, 4)])
        out.append([])
        out.append(["team", "response met", "response missed", "resolution met", "resolution missed"])
        for name, _id, counts in self.by_team:
            out.append([name, *counts["response"], *counts["resolution"]])
        return out


def _fmt(value, digits: int = 1):
    return "" if value is None else round(value, digits)


def _columns(clock: str):
    return getattr(Ticket, f"{clock}_minutes"), getattr(Ticket, f"{clock}_breached_at")


def clock_percentiles(session: Session, conds: list, by) -> dict[str, dict]:
    """{clock: {group: (stopped clocks, median, p90)}} for both clocks: the stopped clocks'
    minutes (two numbers per ticket, read from the covering index ``ix_ticket_outcomes``) ranked
    in numpy, nearest-rank. A year at 100,000 tickets: 180 ms, against 330–390 ms for the same
    ranks by window functions in SQLite (docs/benchmarks.md)."""
    stopped = or_(*(_columns(clock)[0].is_not(None) for clock in CLOCKS))
    if session.get_bind().dialect.name == "postgresql":
        return _ranked_in_postgresql(session, [*conds, stopped], by)
    values: dict = {}
    for group, *minutes in session.execute(select(by, *(_columns(c)[0] for c in CLOCKS)).where(*conds, stopped)):
        lists = values.setdefault(group, tuple([] for _ in CLOCKS))
        for i, m in enumerate(minutes):
            if m is not None:
                lists[i].append(m)
    out: dict[str, dict] = {clock: {} for clock in CLOCKS}
    for group, lists in values.items():
        for clock, found in zip(CLOCKS, lists):
            if found:
                ranked = np.sort(np.asarray(found, dtype=float))
                n = len(ranked)
                out[clock][group] = (n, float(ranked[(n + 1) // 2 - 1]), float(ranked[(n * 9 + 9) // 10 - 1]))
    return out


def _ranked_in_postgresql(session: Session, conds: list, by) -> dict[str, dict]:
    """The same ranks by PostgreSQL's ``percentile_disc`` (the smallest value whose cumulative
    share reaches p: rank ⌈p·n⌉), aggregated in the database."""
    columns = []
    for clock in CLOCKS:
        minutes = _columns(clock)[0]
        columns += [func.count(minutes), func.percentile_disc(0.5).within_group(minutes),
                    func.percentile_disc(0.9).within_group(minutes)]
    out: dict[str, dict] = {clock: {} for clock in CLOCKS}
    for group, *numbers in session.execute(select(by, *columns).where(*conds).group_by(by)):
        for i, clock in enumerate(CLOCKS):
            n, median, p90 = numbers[3 * i:3 * i + 3]
            if n:
                out[clock][group] = (int(n), float(median), float(p90))
    return out


def clock_counts() -> list:
    """Per clock, the SQL counts of met and missed targets (see the module docstring)."""
    served = Ticket.status.not_in(sorted(WITHDRAWN))
    counts = []
    for clock in CLOCKS:
        minutes, breached = _columns(clock)
        counts += [count_if(minutes.is_not(None) & breached.is_(None) & served), count_if(breached.is_not(None))]
    return counts


def sla_figures(session: Session, actor, f: Filters) -> SlaFigures:
    """Times against the targets per priority, compliance, and met/missed per team."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    targets = {p.priority: p for p in session.scalars(select(SlaPolicy).where(SlaPolicy.policy_set == DEFAULT_SET))}
    grouped = session.execute(select(Ticket.priority, Ticket.team_id, *clock_counts()).where(*scope(f))
                              .group_by(Ticket.priority, Ticket.team_id)).all()
    per_priority: dict[tuple[str, str], list[int]] = {}
    per_team: dict[int | None, dict[str, list[int]]] = {}
    for priority, team_id, *n in grouped:
        for i, clock in enumerate(CLOCKS):
            met, missed = int(n[2 * i]), int(n[2 * i + 1])
            for bucket in (per_priority.setdefault((clock, priority), [0, 0]),
                           per_team.setdefault(team_id, {c: [0, 0] for c in CLOCKS})[clock]):
                bucket[0] += met
                bucket[1] += missed
    clocks = []
    all_times = clock_percentiles(session, scope(f), Ticket.priority)
    for clock in CLOCKS:
        times = all_times[clock]
        for priority in PRIORITY_KEYS:
            policy = targets.get(priority)
            target = getattr(policy, "first_response_minutes" if clock == "response" else "resolution_minutes",
                             None) if policy else None
            stopped, median, p90 = times.get(priority, (0, None, None))
            met, missed = per_priority.get((clock, priority), (0, 0))
            if stopped or met or missed or target:
                clocks.append(ClockFigures(clock, priority, float(target) if target else None, stopped,
                                           median, p90, met, missed))
    names = {t.id: t.name for t in session.scalars(select(Team).where(Team.id.in_([k for k in per_team if k])))}
    by_team = sorted(((names.get(k, NONE_LABEL) if k else NONE_LABEL, k, {c: tuple(v[c]) for c in CLOCKS})
                      for k, v in per_team.items()), key=lambda t: (t[1] is None, t[0]))
    return SlaFigures(clocks=clocks, by_team=by_team)

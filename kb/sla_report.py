"""The SLA report: per ticket, did we answer and resolve within the targets, and the totals.

Selection, counting and paging are SQL (tickets filed in a period, by priority and team).
The page's rows run the clocks (:func:`kb.sla.clock.sla_status`) over their events, so
they show business time exactly. The totals avoid running 100,000 clocks: a resolved or
closed ticket with no ``breached_at`` met both targets, and that is exact, because
:func:`kb.ticket_sla.refresh` ran at the event that stopped its clocks and nothing can
breach after it. Those are counted in SQL; only open tickets and tickets with a breach
(which clock was it?) run the clocks, from events read in batches of :data:`BATCH` (one
query each). The median first response is wall-clock time from ``first_responded_at``,
also SQL. A ticket resolved before the SLA was configured counts as met.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from kb import permissions
from kb.db import utcnow
from kb.errors import ValidationError
from kb.pagination import Paged
from kb.sla.clock import PAUSE_STATUSES, REPLY, STOPPED, ClockStatus, SlaStatus, sla_status
from kb.sla.models import PRIORITIES
from kb.teams import Team
from kb.ticket_flow import CANCELLED, CLOSED, MERGED, OPEN_STATUSES, RESOLVED
from kb.ticket_sla import clock_events, first_reply_at, load_events, policies
from kb.tickets import Ticket

MAX_DAYS = 366
BATCH = 500
MAX_PER_PAGE = 100
WITHDRAWN = frozenset({CANCELLED, MERGED})  # nobody was served: only a breach counts
SETTLED = (RESOLVED, CLOSED)


@dataclass(frozen=True)
class SlaRow:
    ticket: Ticket
    status: SlaStatus | None          # None: no policy for the ticket's priority
    first_response_at: datetime | None
    paused: timedelta                 # wall-clock time spent waiting for the requester

    @property
    def response(self) -> ClockStatus | None:
        return self.status.first_response if self.status else None

    @property
    def resolution(self) -> ClockStatus | None:
        return self.status.resolution if self.status else None

    @property
    def response_met(self) -> bool | None:
        return met(self.response, self.ticket.status)

    @property
    def resolution_met(self) -> bool | None:
        return met(self.resolution, self.ticket.status)


@dataclass
class SlaTotals:
    tickets: int = 0
    breached: int = 0                 # tickets with a missed target as of now
    response_met: int = 0
    response_decided: int = 0         # clocks that finished (or breached); open ones are not counted yet
    resolution_met: int = 0
    resolution_decided: int = 0
    median_first_response: timedelta | None = None   # wall-clock, filing to the first public reply

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def response_rate(self) -> float | None:
        return self._share(self.response_met, self.response_decided)

    @property
    def resolution_rate(self) -> float | None:
        return self._share(self.resolution_met, self.resolution_decided)


@dataclass(frozen=True)
class SlaReport(Paged):
    rows: list[SlaRow]
    totals: SlaTotals
    page: int
    per_page: int
    total: int
    since: date
    until: date


def met(clock: ClockStatus | None, ticket_status: str = "") -> bool | None:
    """True: stopped within the target; False: breached; None: still counting, no clock, or a
    ticket withdrawn (cancelled, merged) before its target, which says nothing either way."""
    if clock is None:
        return None
    if clock.breached:
        return False
    if clock.state != STOPPED or ticket_status in WITHDRAWN:
        return None
    return True


def paused_time(events, now: datetime) -> timedelta:
    total, since = timedelta(0), None
    for at, kind in sorted(events, key=lambda e: e.at):
        if at > now:
            break
        waiting = kind in PAUSE_STATUSES
        if waiting and since is None:
            since = at
        elif not waiting and since is not None and kind != REPLY:
            total += at - since
            since = None
    return total + (now - since if since is not None else timedelta(0))


def _conds(since: date, until: date, priority: str | None, team_id: int | None) -> list:
    start = datetime.combine(since, time.min, tzinfo=timezone.utc)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=timezone.utc)
    conds = [Ticket.created_at >= start, Ticket.created_at < end]
    if priority:
        conds.append(Ticket.priority == priority)
    if team_id is not None:
        conds.append(Ticket.team_id == team_id)
    return conds


def _check(since: date, until: date, priority: str | None) -> None:
    if until < since:
        raise ValidationError("The end date is before the start date.", "until")
    if (until - since).days >= MAX_DAYS:
        raise ValidationError(f"Choose a period of at most {MAX_DAYS} days.", "since")
    if priority and priority not in PRIORITIES:
        raise ValidationError(f"Priority must be one of {', '.join(PRIORITIES)}.", "priority")


def sla_report(session: Session, actor, *, since: date, until: date, priority: str | None = None,
               team_id: int | None = None, page: int = 1, per_page: int = 50,
               now: datetime | None = None) -> SlaReport:
    """Tickets filed from ``since`` to ``until`` (UTC dates, inclusive), newest first."""
    permissions.require(permissions.can_view_reports(actor), "The SLA report is for team leads and admins.")
    _check(since, until, priority)
    try:
        page = max(int(page or 1), 1)
        per_page = min(max(int(per_page or 50), 1), MAX_PER_PAGE)
    except (TypeError, ValueError):
        raise ValidationError("The page must be a number.", "page") from None
    now = now or utcnow()
    conds = _conds(since, until, priority, team_id)
    pols = policies(session)
    total = session.scalar(select(func.count()).select_from(Ticket).where(*conds)) or 0
    totals = SlaTotals(tickets=total)
    tickets = list(session.scalars(select(Ticket).where(*conds)
                                   .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                                   .offset((page - 1) * per_page).limit(per_page)
                                   .options(selectinload(Ticket.team), selectinload(Ticket.assignee))))
    history = load_events(session, [t.id for t in tickets])
    rows = []
    for t in tickets:
        events = clock_events(history.get(t.id, []), t.created_at)
        policy = pols.get(t.priority)
        rows.append(SlaRow(ticket=t, status=sla_status(events, policy, now=now) if policy else None,
                           first_response_at=first_reply_at(events, now), paused=paused_time(events, now)))
    _add_totals(session, totals, conds, pols, now)
    return SlaReport(rows=rows, totals=totals, page=page, per_page=per_page, total=total, since=since, until=until)


def _add_totals(session: Session, totals: SlaTotals, conds: list, pols, now: datetime) -> None:
    covered = [Ticket.priority.in_(list(pols))]
    settled = [Ticket.status.in_(SETTLED), Ticket.breached_at.is_(None)]
    both_met = session.scalar(select(func.count()).select_from(Ticket).where(*conds, *covered, *settled)) or 0
    totals.response_met = totals.response_decided = both_met
    totals.resolution_met = totals.resolution_decided = both_met
    # Cancelled or merged without a breach: nobody was served, so neither met nor missed.
    unsettled = or_(Ticket.status.in_(sorted(OPEN_STATUSES)), Ticket.breached_at.is_not(None))
    last_id = 0
    while True:
        batch = session.execute(select(Ticket.id, Ticket.priority, Ticket.created_at, Ticket.status)
                                .where(*conds, *covered, unsettled, Ticket.id > last_id)
                                .order_by(Ticket.id).limit(BATCH)).all()
        if not batch:
            break
        last_id = batch[-1].id
        history = load_events(session, [b.id for b in batch])
        for b in batch:
            st = sla_status(clock_events(history.get(b.id, []), b.created_at), pols[b.priority], now=now)
            totals.breached += int(st.breached)
            for clock, attr in ((st.first_response, "response"), (st.resolution, "resolution")):
                outcome = met(clock, b.status)
                if outcome is not None:
                    setattr(totals, f"{attr}_decided", getattr(totals, f"{attr}_decided") + 1)
                    setattr(totals, f"{attr}_met", getattr(totals, f"{attr}_met") + int(outcome))
    waits = [replied - created for created, replied in session.execute(
        select(Ticket.created_at, Ticket.first_responded_at).where(*conds, Ticket.first_responded_at.is_not(None)))]
    totals.median_first_response = statistics.median(waits) if waits else None


def report_teams(session: Session) -> list[Team]:
    """The teams to filter by."""
    return list(session.scalars(select(Team).order_by(Team.name)))

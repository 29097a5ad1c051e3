"""SLA clocks: how much of a target a ticket has used, given its status history.

Pure functions over plain data so the ticket lifecycle, the queue and the scheduler
all read the same numbers. A ticket's history is a list of ``(at, kind)`` events:
``kind`` is the status the ticket moved to, or :data:`REPLY` for a public reply by an
agent (which changes no status). The first event (normally the ``"new"`` status at
creation) starts both clocks.

- Statuses in ``pause_statuses`` ("waiting_for_requester") pause both clocks: the
  time counts for nobody, and the due time moves out by the length of the pause.
- Statuses in ``stop_statuses`` ("resolved", "closed", "cancelled") stop the
  resolution clock; reopening resumes it where it stopped, so a ticket bounced back
  from verification keeps the time it already used.
- The first-response clock stops for good at the first :data:`REPLY` or the first
  stop status, whichever comes first.
- Only business time counts (see :mod:`kb.sla.calendar`); a clock started outside
  opening hours starts counting at the next opening.
- A clock is breached once its elapsed business time is >= the target, so ``now ==
  due_at`` is a breach, and so is resolving at exactly the due instant.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from kb import db
from kb.sla.calendar import (ZERO, BusinessCalendar, add_business_time, business_time_between,
                             end_of_business_day, require_aware_utc)

REPLY = "agent_public_reply"
PAUSE_STATUSES = frozenset({"waiting_for_requester"})
STOP_STATUSES = frozenset({"resolved", "closed", "cancelled"})

NOT_STARTED, RUNNING, PAUSED, STOPPED = "not_started", "running", "paused", "stopped"


class Event(NamedTuple):
    at: datetime
    kind: str  # a status, or REPLY


@dataclass(frozen=True)
class ClockPolicy:
    """The targets for one priority. A target of ``None`` means that clock is not tracked."""

    calendar: BusinessCalendar
    first_response: timedelta | None
    resolution: timedelta | None
    reminder_share: float = 0.75
    pause_statuses: frozenset[str] = PAUSE_STATUSES
    stop_statuses: frozenset[str] = STOP_STATUSES
    priority: str = ""

    def __post_init__(self):
        for name in ("first_response", "resolution"):
            value = getattr(self, name)
            if value is not None and value <= ZERO:
                raise ValueError(f"{name} target must be positive")
        if not 0 < self.reminder_share < 1:
            raise ValueError("reminder_share must be between 0 and 1 (exclusive)")


@dataclass(frozen=True)
class ClockStatus:
    """One clock as of ``as_of``. ``due_at`` is None while paused (it moves with the pause)."""

    name: str
    state: str
    target: timedelta
    elapsed: timedelta
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None
    reminder_at: datetime | None
    breached_at: datetime | None
    reminder_share: float
    as_of: datetime

    @property
    def remaining(self) -> timedelta:
        return max(self.target - self.elapsed, ZERO)

    @property
    def share(self) -> float:
        """Fraction of the target used; above 1.0 once breached."""
        return self.elapsed / self.target

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    @property
    def reminder_due(self) -> bool:
        """Worth a reminder now: still running, past the reminder share, not yet breached."""
        return self.state == RUNNING and not self.breached and self.share >= self.reminder_share

    @property
    def overdue_by(self) -> timedelta:
        return max(self.elapsed - self.target, ZERO)


@dataclass(frozen=True)
class SlaStatus:
    first_response: ClockStatus | None
    resolution: ClockStatus | None

    @property
    def clocks(self) -> list[ClockStatus]:
        return [c for c in (self.first_response, self.resolution) if c is not None]

    @property
    def breached(self) -> bool:
        return any(c.breached for c in self.clocks)

    @property
    def next_due_at(self) -> datetime | None:
        """The earliest due time of a running, unbreached clock: what the queue sorts by."""
        dues = [c.due_at for c in self.clocks if c.state == RUNNING and not c.breached and c.due_at]
        return min(dues, default=None)


def _normalise(events: Iterable, now: datetime) -> list[Event]:
    """Aware UTC, sorted by time (stable, so same-instant events keep their order), up to ``now``."""
    out = [Event(require_aware_utc(at, "event time"), kind) for at, kind in events]
    out.sort(key=lambda e: e.at)
    return [e for e in out if e.at <= now]


def _running_segments(events: list[Event], policy: ClockPolicy, now: datetime, stop_on_reply: bool):
    """Split the history into the periods the clock ran; returns (segments, state, stopped_at)."""
    segments: list[tuple[datetime, datetime]] = []
    running_since: datetime | None = None
    stopped_at: datetime | None = None
    state = NOT_STARTED
    for index, (at, kind) in enumerate(events):
        is_reply = kind == REPLY
        if is_reply and not stop_on_reply:
            if index == 0:
                running_since, state = at, RUNNING  # a ticket logged together with a reply
            continue
        stops = is_reply or kind in policy.stop_statuses
        runs = not stops and kind not in policy.pause_statuses
        if runs and running_since is None:
            running_since = at
        elif not runs and running_since is not None:
            segments.append((running_since, at))
            running_since = None
        if stops:
            state, stopped_at = STOPPED, at
            if stop_on_reply:
                return segments, state, stopped_at
        else:
            state, stopped_at = (RUNNING if runs else PAUSED), None
    if running_since is not None:
        segments.append((running_since, now))
    return segments, state, stopped_at


def clock_status(name: str, events: Iterable, target: timedelta, policy: ClockPolicy, *,
                 now: datetime | None = None, stop_on_reply: bool = False) -> ClockStatus:
    """Measure one clock. ``now`` defaults to :func:`kb.db.utcnow`; events after it are ignored."""
    now = require_aware_utc(now if now is not None else db.utcnow(), "now")
    cal = policy.calendar
    evs = _normalise(events, now)
    segments, state, stopped_at = _running_segments(evs, policy, now, stop_on_reply)
    reminder_target = target * policy.reminder_share
    elapsed = before_last = ZERO
    breached_at = reminder_at = due_at = None
    for start, end in segments:
        part = business_time_between(start, end, cal)
        if reminder_at is None and elapsed + part >= reminder_target:
            reminder_at = add_business_time(start, reminder_target - elapsed, cal)
        if breached_at is None and elapsed + part >= target:
            breached_at = add_business_time(start, target - elapsed, cal)
        before_last = elapsed
        elapsed += part
    if breached_at is not None:
        due_at = breached_at
    elif segments and state != PAUSED:
        # The due time as the last running period had it: live while RUNNING, and for a
        # STOPPED clock the time the ticket was working against when it stopped.
        last_start = segments[-1][0]
        due_at = add_business_time(last_start, target - before_last, cal)
        if reminder_at is None and state == RUNNING:
            reminder_at = add_business_time(last_start, reminder_target - before_last, cal)
    return ClockStatus(name=name, state=state, target=target, elapsed=elapsed,
                       started_at=evs[0].at if evs else None, stopped_at=stopped_at, due_at=due_at,
                       reminder_at=reminder_at, breached_at=breached_at,
                       reminder_share=policy.reminder_share, as_of=now)


def sla_status(events: Iterable, policy: ClockPolicy, now: datetime | None = None) -> SlaStatus:
    """Both clocks of a ticket; a target of None in the policy gives None for that clock."""
    now = require_aware_utc(now if now is not None else db.utcnow(), "now")
    events = list(events)
    first = resolution = None
    if policy.first_response is not None:
        first = clock_status("first_response", events, policy.first_response, policy, now=now,
                             stop_on_reply=True)
    if policy.resolution is not None:
        resolution = clock_status("resolution", events, policy.resolution, policy, now=now)
    return SlaStatus(first_response=first, resolution=resolution)


def auto_close_at(resolved_at: datetime, days: int, calendar: BusinessCalendar | None = None) -> datetime:
    """When a resolved ticket nobody answered closes itself.

    With a calendar, ``days`` are business days and the ticket closes at the end of the
    ``days``-th working date after the resolution; without one, ``days`` x 24 hours.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if calendar is None:
        return require_aware_utc(resolved_at, "resolved_at") + timedelta(days=days)
    return end_of_business_day(resolved_at, days, calendar)

"""Business time: when the support desk is open, and exact arithmetic over those hours.

SLA targets are promises in *business* time ("4 business hours"), so a due time is
not ``start + timedelta``. This is the one place that maps local opening hours onto
the UTC timeline the database stores. The rules, in short (docs/sla.md has them all):

- A business hour is a real, elapsed hour: hours are local wall times converted to
  UTC per date, so a 24x7 calendar equals wall-clock (UTC) time, DST days included.
- A wall time inside a spring-forward gap is read with the offset before the change
  (it lands after the gap); an ambiguous fall-back time means its first occurrence;
  an interval whose ends cross that way collapses to nothing.
- Intervals are half-open ``[open, close)`` inside one local date; ``22:00-06:00``
  is refused (write ``22:00-24:00`` and ``00:00-06:00`` on the next weekday).
- A holiday closes its date; a per-date override replaces that date's hours and
  wins over a holiday.

The walk goes a day at a time and skips whole weeks without a holiday, override or
UTC-offset change, so long durations cost a few hundred steps, not one per minute.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kb.errors import ValidationError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
ZERO = timedelta(0)
WEEK = timedelta(days=7)
_ONE_DAY = timedelta(days=1)
_MAX_DAYS = 366 * 30  # beyond this a loop is a configuration error, not a long SLA
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[int, int]  # minutes after local midnight, [start, end), end <= 1440
DayHours = tuple[Interval, ...]


def parse_intervals(value, field_name: str = "hours") -> DayHours:
    """Accept ``"09:00-12:00, 13:00-17:30"``, a list of such strings, or (start, end) pairs
    of ``"HH:MM"`` / ``datetime.time`` / minutes; return sorted, merged minute intervals."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    spans: list[Interval] = []
    for item in value:
        if isinstance(item, str):
            match = _INTERVAL.match(item)
            if not match:
                raise ValidationError(f"{item!r} is not an interval like 09:00-17:30", field_name)
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = _minutes(h1, m1, field_name), _minutes(h2, m2, field_name)
        else:
            try:
                raw_start, raw_end = item
            except (TypeError, ValueError):
                raise ValidationError(f"{item!r} is not a (start, end) pair", field_name) from None
            start, end = _to_minutes(raw_start, field_name), _to_minutes(raw_end, field_name)
        if end <= start:
            raise ValidationError(
                f"{_fmt(start)}-{_fmt(end)} ends before it starts; intervals may not span midnight, "
                "split them at 24:00", field_name)
        spans.append((start, end))
    spans.sort()
    merged: list[Interval] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def format_intervals(hours: DayHours) -> list[str]:
    return [f"{_fmt(s)}-{_fmt(e)}" for s, e in hours]


def _minutes(hour: int, minute: int, field_name: str) -> int:
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ValidationError(f"{hour:02d}:{minute:02d} is not a time of day", field_name)
    return hour * 60 + minute


def _to_minutes(value, field_name: str) -> int:
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise ValidationError("opening hours are whole minutes", field_name)
        return value.hour * 60 + value.minute
    if isinstance(value, str):
        hh, sep, mm = value.strip().partition(":")
        if sep and hh.isdigit() and mm.isdigit() and len(mm) == 2:
            return _minutes(int(hh), int(mm), field_name)
        raise ValidationError(f"{value!r} is not a time like 09:00", field_name)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MINUTES_PER_DAY:
        return value
    raise ValidationError(f"{value!r} is not a time of day", field_name)


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekday_index(key) -> int:
    if isinstance(key, int) and 0 <= key <= 6:
        return key
    if isinstance(key, str) and key.strip().lower()[:3] in DAY_NAMES:
        return DAY_NAMES.index(key.strip().lower()[:3])
    raise ValidationError(f"{key!r} is not a weekday (mon..sun or 0..6)", "hours")


def require_aware_utc(t: datetime, name: str = "t") -> datetime:
    if not isinstance(t, datetime) or t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (use kb.db.utcnow())")
    return t.astimezone(timezone.utc)


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours in one IANA time zone: a weekly pattern, holidays and per-date overrides.

    ``week`` has seven entries, Monday first, each a tuple of minute intervals.
    Build one with :meth:`build`, :meth:`weekdays` or :meth:`always` rather than by hand.
    """

    timezone: str
    week: tuple[DayHours, ...]
    holidays: frozenset[date] = frozenset()
    overrides: tuple[tuple[date, DayHours], ...] = ()
    name: str = ""
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _special: dict = field(init=False, repr=False, compare=False, hash=False)
    _special_dates: tuple = field(init=False, repr=False, compare=False, hash=False)
    _cache: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValidationError(f"unknown time zone {self.timezone!r}", "timezone") from None
        if len(self.week) != 7:
            raise ValidationError("the week needs seven days, Monday first", "hours")
        week = tuple(parse_intervals(day) for day in self.week)
        if not any(week):
            raise ValidationError("the calendar has no working time in its week", "hours")
        raw = self.overrides.items() if isinstance(self.overrides, Mapping) else self.overrides
        overrides = tuple(sorted((d, parse_intervals(h, "overrides")) for d, h in raw))
        special = dict(overrides)
        set_ = object.__setattr__
        set_(self, "week", week)
        set_(self, "holidays", frozenset(self.holidays))
        set_(self, "overrides", overrides)
        set_(self, "_zone", zone)
        set_(self, "_special", special)
        set_(self, "_special_dates", tuple(sorted(set(special) | self.holidays)))
        set_(self, "_cache", {})

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def build(cls, timezone: str, hours: Mapping, holidays: Iterable[date] = (),
              overrides: Mapping | None = None, name: str = "") -> "BusinessCalendar":
        """``hours`` maps weekdays ("mon".."sun" or 0..6) to intervals; missing days are closed."""
        week: list[DayHours] = [()] * 7
        for key, value in dict(hours).items():
            week[_weekday_index(key)] = parse_intervals(value)
        return cls(timezone=timezone, week=tuple(week), holidays=frozenset(holidays),
                   overrides=tuple((overrides or {}).items()), name=name)

    @classmethod
    def weekdays(cls, timezone: str = "UTC", hours="09:00-17:30", holidays: Iterable[date] = (),
                 overrides: Mapping | None = None, name: str = "") -> "BusinessCalendar":
        """The same hours Monday to Friday, weekends closed."""
        return cls.build(timezone, {d: hours for d in DAY_NAMES[:5]}, holidays, overrides, name)

    @classmethod
    def always(cls, timezone: str = "UTC", name: str = "24x7") -> "BusinessCalendar":
        """Round the clock; holidays do not apply (add them with ``build`` if they should)."""
        return cls.build(timezone, {d: "00:00-24:00" for d in DAY_NAMES}, name=name)

    # -- shape ---------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def nominal_week(self) -> timedelta:
        """Business time in a week without holidays, overrides or a UTC-offset change."""
        return timedelta(minutes=sum(e - s for day in self.week for s, e in day))

    def hours_on(self, day: date) -> DayHours:
        """The local intervals that apply on ``day`` (override, else holiday, else weekly)."""
        if day in self._special:
            return self._special[day]
        if day in self.holidays:
            return ()
        return self.week[day.weekday()]

    # -- timeline primitives -------------------------------------------------------------
    def local_date(self, t: datetime) -> date:
        return t.astimezone(self._zone).date()

    def day_start(self, day: date) -> datetime:
        """UTC instant of local midnight; consecutive days partition the timeline."""
        return _to_utc(datetime.combine(day, time(0), self._zone))

    def windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Open periods of ``day`` as sorted, disjoint UTC intervals, clipped to the local day."""
        key = ("w", day)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lo, hi = self.day_start(day), self.day_start(day + _ONE_DAY)
        spans: list[list[datetime]] = []
        for start_min, end_min in self.hours_on(day):
            start = max(lo, self._at(day, start_min))
            end = min(hi, self._at(day, end_min))
            if end <= start:
                continue  # collapsed by a DST gap or a zero-length day
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        result = tuple((s, e) for s, e in spans)
        if len(self._cache) > 20000:
            self._cache.clear()
        self._cache[key] = result
        return result

    def plain_week(self, day: date) -> bool:
        """True if ``[day, day+7)`` is an ordinary week: no special dates, one UTC offset."""
        i = bisect.bisect_left(self._special_dates, day)
        if i < len(self._special_dates) and self._special_dates[i] < day + WEEK:
            return False
        first = self.day_start(day)
        offset = self._zone.utcoffset(datetime.combine(day, time(0)))
        for n in range(1, 8):
            d = day + timedelta(days=n)
            if self._zone.utcoffset(datetime.combine(d, time(0))) != offset:
                return False
        return self.day_start(day + WEEK) - first == WEEK

    def _at(self, day: date, minute: int) -> datetime:
        if minute >= MINUTES_PER_DAY:
            return self.day_start(day + _ONE_DAY)
        return _to_utc(datetime.combine(day, time(minute // 60, minute % 60), self._zone))


def _to_utc(local: datetime) -> datetime:
    return local.astimezone(timezone.utc)


# -- the arithmetic -------------------------------------------------------------------------
def is_business_time(t: datetime, cal: BusinessCalendar) -> bool:
    """Inside an open period (half-open: the opening instant counts, the closing one does not)."""
    t = require_aware_utc(t)
    day = cal.local_date(t)
    return any(s <= t < e for d in (day - _ONE_DAY, day, day + _ONE_DAY) for s, e in cal.windows(d))


def next_business_start(t: datetime, cal: BusinessCalendar) -> datetime:
    """``t`` itself when the desk is open, else the next opening: where a clock started at ``t`` begins."""
    t = require_aware_utc(t)
    day = cal.local_date(t) - _ONE_DAY
    for _ in range(_MAX_DAYS):
        for s, e in cal.windows(day):
            if e > t:
                return max(s, t)
        day += _ONE_DAY
    raise ValueError("no business time within 30 years; check the calendar")


def add_business_time(start: datetime, duration: timedelta, cal: BusinessCalendar) -> datetime:
    """The earliest instant by which ``duration`` of business time has passed since ``start``.

    A zero duration gives :func:`next_business_start`; a duration that ends exactly at a
    closing time gives that closing time (not the next opening).
    """
    start = require_aware_utc(start, "start")
    if duration < ZERO:
        raise ValueError("duration must not be negative")
    remaining = duration
    week_total = cal.nominal_week
    day = cal.local_date(start) - _ONE_DAY
    for _ in range(_MAX_DAYS):
        if remaining > week_total and cal.day_start(day) >= start and cal.plain_week(day):
            remaining -= week_total
            day += WEEK
            continue
        for s, e in cal.windows(day):
            if e <= start:
                continue
            s = max(s, start)
            if remaining <= e - s:
                return s + remaining
            remaining -= e - s
        day += _ONE_DAY
    raise ValueError("duration does not fit in 30 years of this calendar")


def business_time_between(a: datetime, b: datetime, cal: BusinessCalendar) -> timedelta:
    """Business time in ``[a, b)``; negative when ``b`` is before ``a`` so spans add up."""
    a, b = require_aware_utc(a, "a"), require_aware_utc(b, "b")
    if b < a:
        return -business_time_between(b, a, cal)
    total = ZERO
    week_total = cal.nominal_week
    day = cal.local_date(a) - _ONE_DAY
    while True:
        lo = cal.day_start(day)
        if lo >= b:
            return total
        if lo >= a and cal.day_start(day + WEEK) <= b and cal.plain_week(day):
            total += week_total
            day += WEEK
            continue
        for s, e in cal.windows(day):
            s, e = max(s, a), min(e, b)
            if e > s:
                total += e - s
        day += _ONE_DAY


def end_of_business_day(t: datetime, n: int, cal: BusinessCalendar) -> datetime:
    """The closing time of the ``n``-th working date after ``t``'s local date.

    Used for "auto-close after 5 business days": resolved on a Monday, n=5 closes at the
    end of the following Monday, whatever the time of day it was resolved.
    """
    t = require_aware_utc(t)
    if n < 1:
        raise ValueError("n must be at least 1")
    day = cal.local_date(t)
    for _ in range(_MAX_DAYS):
        day += _ONE_DAY
        windows = cal.windows(day)
        if windows:
            n -= 1
            if n == 0:
                return windows[-1][1]
    raise ValueError("no business days within 30 years; check the calendar")

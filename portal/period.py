"""The reporting period of the report pages (?since=YYYY-MM-DD&until=YYYY-MM-DD)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask import abort, request
from flask_babel import gettext as _

from kb.db import utcnow


@dataclass(frozen=True)
class Period:
    since_day: date
    until_day: date  # inclusive

    @property
    def since(self) -> datetime:
        return datetime.combine(self.since_day, time.min, tzinfo=timezone.utc)

    @property
    def until(self) -> datetime:
        """Exclusive: the start of the day after ``until_day``."""
        return datetime.combine(self.until_day + timedelta(days=1), time.min, tzinfo=timezone.utc)


def _day(name: str, default: date) -> date:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, _("Dates look like 2025-01-31."))


def period_from_args(default_days: int) -> Period:
    """The period the query string asks for (default: the last ``default_days`` days); a
    malformed or reversed period is a 400 with a message saying what to fix."""
    today = utcnow().date()
    period = Period(_day("since", today - timedelta(days=default_days)), _day("until", today))
    if period.until_day < period.since_day:
        abort(400, _("The end date is before the start date."))
    return period

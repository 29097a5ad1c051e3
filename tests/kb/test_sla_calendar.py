"""Business-time arithmetic: exact cases across weekends, holidays and DST, and the algebra
(add then measure, monotonicity, additivity) as hypothesis properties."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.errors import ValidationError
from kb.sla.calendar import (BusinessCalendar, add_business_time, business_time_between, end_of_business_day,
                             is_business_time, next_business_start, parse_intervals)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)

NINE_TO_FIVE = BusinessCalendar.weekdays("UTC", "09:00-17:00")
BERLIN_OFFICE = BusinessCalendar.weekdays("Europe/Berlin", "09:00-17:30",
                                          holidays=[date(2025, 4, 18), date(2025, 4, 21), date(2025, 12, 25)],
                                          overrides={date(2025, 12, 24): "09:00-12:00"})
NY_SPLIT = BusinessCalendar.weekdays("America/New_York", "09:00-12:00, 13:00-17:30")
BERLIN_24x7 = BusinessCalendar.always("Europe/Berlin")
# Opening hours inside the spring-forward gap and the repeated fall-back hour.
NIGHT_OWL = BusinessCalendar.build("Europe/Berlin", {d: ["01:30-02:30", "02:45-04:00"] for d in range(7)})


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


def ny(*args):
    return datetime(*args, tzinfo=NEW_YORK)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# -- exact cases --------------------------------------------------------------------------------
def test_friday_afternoon_plus_two_hours_is_monday_morning():
    assert add_business_time(utc(2025, 3, 7, 16), 2 * H, NINE_TO_FIVE) == utc(2025, 3, 10, 10)


def test_duration_ending_at_closing_time_is_that_closing_time():
    assert add_business_time(utc(2025, 3, 7, 16), H, NINE_TO_FIVE) == utc(2025, 3, 7, 17)


def test_start_outside_hours_starts_at_next_opening():
    saturday = utc(2025, 3, 8, 11)
    assert next_business_start(saturday, NINE_TO_FIVE) == utc(2025, 3, 10, 9)
    assert add_business_time(saturday, 30 * timedelta(minutes=1), NINE_TO_FIVE) == utc(2025, 3, 10, 9, 30)
    assert add_business_time(utc(2025, 3, 10, 6), timedelta(0), NINE_TO_FIVE) == utc(2025, 3, 10, 9)
    assert add_business_time(utc(2025, 3, 10, 12), timedelta(0), NINE_TO_FIVE) == utc(2025, 3, 10, 12)


def test_across_easter_holidays():
    # Thursday 17 April 2025 16:30 + 2h: Good Friday and Easter Monday are closed.
    due = add_business_time(berlin(2025, 4, 17, 16, 30), 2 * H, BERLIN_OFFICE)
    assert due == berlin(2025, 4, 22, 10, 0)
    assert business_time_between(berlin(2025, 4, 17, 9), berlin(2025, 4, 23, 9), BERLIN_OFFICE) == 2 * 8.5 * H


def test_override_shortens_christmas_eve_and_beats_nothing_else():
    assert BERLIN_OFFICE.hours_on(date(2025, 12, 24)) == ((540, 720),)
    due = add_business_time(berlin(2025, 12, 24, 11), 2 * H, BERLIN_OFFICE)
    assert due == berlin(2025, 12, 26, 10, 0)  # 1h on the 24th, the 25th closed, 1h on the 26th


def test_split_day_skips_lunch():
    assert add_business_time(ny(2025, 6, 2, 11), 2 * H, NY_SPLIT) == ny(2025, 6, 2, 14)
    assert not is_business_time(ny(2025, 6, 2, 12, 30), NY_SPLIT)
    assert is_business_time(ny(2025, 6, 2, 13), NY_SPLIT)
    assert not is_business_time(ny(2025, 6, 2, 17, 30), NY_SPLIT)
    assert next_business_start(ny(2025, 6, 2, 12, 1), NY_SPLIT) == ny(2025, 6, 2, 13)


def test_business_hours_follow_local_time_across_dst():
    # New York springs forward on Sunday 9 March 2025; 09:00 local is 14:00 UTC before, 13:00 after.
    due = add_business_time(ny(2025, 3, 7, 16), 2 * H, NY_SPLIT)
    assert due == ny(2025, 3, 10, 9, 30) and due == utc(2025, 3, 10, 13, 30)
    # Berlin falls back on Sunday 26 October 2025.
    assert add_business_time(berlin(2025, 10, 24, 17), H, BERLIN_OFFICE) == berlin(2025, 10, 27, 9, 30)


def test_24x7_equals_wall_clock_even_on_dst_days():
    spring, autumn = berlin(2025, 3, 30, 0), berlin(2025, 10, 26, 0)
    for start in (spring, autumn, berlin(2025, 3, 29, 22, 15)):
        for hours in (1, 5, 24, 100):
            assert add_business_time(start, hours * H, BERLIN_24x7) == start.astimezone(UTC) + hours * H
    assert business_time_between(spring, berlin(2025, 3, 31, 0), BERLIN_24x7) == 23 * H
    assert business_time_between(autumn, berlin(2025, 10, 27, 0), BERLIN_24x7) == 25 * H


def test_opening_hours_inside_the_dst_gap_and_the_repeated_hour():
    # 30 March: 02:30 does not exist and is read as 03:30 CEST, so 01:30-02:30 is one real
    # hour; 02:45-04:00 likewise starts at 03:45 CEST and keeps 15 minutes.
    assert business_time_between(berlin(2025, 3, 30, 0), berlin(2025, 3, 31, 0), NIGHT_OWL) == 1.25 * H
    assert is_business_time(berlin(2025, 3, 30, 3, 15), NIGHT_OWL)
    assert not is_business_time(berlin(2025, 3, 30, 3, 35), NIGHT_OWL)
    # 26 October: both intervals are read at their first occurrence; the repeated hour adds nothing.
    assert business_time_between(berlin(2025, 10, 26, 0), berlin(2025, 10, 27, 0), NIGHT_OWL) == \
        2.25 * H + H  # 01:30-02:30 CEST, 02:45 CEST-04:00 CET is 2h15
    assert business_time_between(berlin(2025, 10, 25, 0), berlin(2025, 10, 26, 0), NIGHT_OWL) == 2.25 * H


def test_long_durations_jump_weeks_and_stay_exact():
    start = berlin(2025, 1, 6, 9)  # a Monday
    due = add_business_time(start, 8.5 * H * 5 * 52, BERLIN_OFFICE)
    assert business_time_between(start, due, BERLIN_OFFICE) == 8.5 * H * 5 * 52
    plain = BusinessCalendar.weekdays("Europe/Berlin", "09:00-17:30")
    # 52 plain weeks from a Monday end on a Friday 17:30, whatever the DST in between.
    assert add_business_time(start, 8.5 * H * 5 * 52, plain) == berlin(2026, 1, 2, 17, 30)


def test_end_of_business_day():
    monday = utc(2025, 3, 10, 10)
    assert end_of_business_day(monday, 5, NINE_TO_FIVE) == utc(2025, 3, 17, 17)
    assert end_of_business_day(berlin(2025, 4, 17, 12), 1, BERLIN_OFFICE) == berlin(2025, 4, 22, 17, 30)


def test_validation():
    with pytest.raises(ValidationError) as err:
        BusinessCalendar.weekdays("Mars/Olympus")
    assert err.value.field == "timezone"
    with pytest.raises(ValidationError, match="midnight"):
        parse_intervals("22:00-06:00")
    with pytest.raises(ValidationError):
        parse_intervals("9-5")
    with pytest.raises(ValidationError, match="no working time"):
        BusinessCalendar.build("UTC", {})
    assert parse_intervals(["13:00-17:30", ("09:00", time(12)), "12:00-13:00"]) == ((540, 1050),)
    with pytest.raises(ValueError):
        add_business_time(datetime(2025, 1, 1, 9), H, NINE_TO_FIVE)  # naive
    with pytest.raises(ValueError):
        add_business_time(utc(2025, 1, 1), -H, NINE_TO_FIVE)


def test_between_is_antisymmetric_and_half_open():
    a, b = utc(2025, 3, 7, 16), utc(2025, 3, 10, 10)
    assert business_time_between(a, b, NINE_TO_FIVE) == 2 * H
    assert business_time_between(b, a, NINE_TO_FIVE) == -2 * H
    assert is_business_time(utc(2025, 3, 10, 9), NINE_TO_FIVE)
    assert not is_business_time(utc(2025, 3, 10, 17), NINE_TO_FIVE)


# -- properties ---------------------------------------------------------------------------------
CALENDARS = st.sampled_from([NINE_TO_FIVE, BERLIN_OFFICE, NY_SPLIT, BERLIN_24x7, NIGHT_OWL])
INSTANTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC))
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=400))


@settings(max_examples=150, deadline=None)
@given(CALENDARS, INSTANTS, DURATIONS)
def test_add_then_measure_returns_the_duration(cal, start, duration):
    due = add_business_time(start, duration, cal)
    assert due >= start
    assert business_time_between(start, due, cal) == duration
    assert due == add_business_time(next_business_start(start, cal), duration, cal)
    if duration:
        # The earliest such instant: a microsecond earlier, the duration has not passed yet.
        assert business_time_between(start, due - timedelta(microseconds=1), cal) < duration


@settings(max_examples=100, deadline=None)
@given(CALENDARS, INSTANTS, DURATIONS, DURATIONS)
def test_add_is_monotonic_in_duration(cal, start, d1, d2):
    d1, d2 = sorted((d1, d2))
    assert add_business_time(start, d1, cal) <= add_business_time(start, d2, cal)


@settings(max_examples=100, deadline=None)
@given(CALENDARS, INSTANTS, INSTANTS, INSTANTS)
def test_between_is_additive(cal, a, b, c):
    a, b, c = sorted((a, b, c))
    ab, bc = business_time_between(a, b, cal), business_time_between(b, c, cal)
    assert ab >= timedelta(0) and bc >= timedelta(0)
    assert ab + bc == business_time_between(a, c, cal)


@settings(max_examples=100, deadline=None)
@given(CALENDARS, INSTANTS)
def test_next_business_start_is_business_time(cal, t):
    start = next_business_start(t, cal)
    assert start >= t and is_business_time(start, cal)
    assert business_time_between(t, start, cal) == timedelta(0)

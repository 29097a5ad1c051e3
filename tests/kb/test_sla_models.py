"""SLA configuration rows: seeded defaults, validation, and turning rows into the value
objects the clock computes with."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

import kb.models  # noqa: F401  (registers every table, ours included, before create_all)
from kb.errors import NotFound, ValidationError
from kb.sla.calendar import add_business_time
from kb.sla.clock import sla_status
from kb.sla.models import (BUSINESS_HOURS, ROUND_THE_CLOCK, AutoCloseRule, BusinessCalendarRow, Holiday, SlaPolicy,
                           calendar_from_row, clock_policy_from_row, get_policy, hours_to_json, seed_sla_defaults)

UTC = timezone.utc
H = timedelta(hours=1)


def test_seed_defaults_is_idempotent_and_keeps_admin_changes(session):
    assert seed_sla_defaults(session, timezone="Europe/Berlin") == 6
    session.commit()
    high = get_policy(session, "high")
    high.first_response_minutes = 10
    session.commit()
    assert seed_sla_defaults(session) == 0
    assert get_policy(session, "high").first_response_minutes == 10
    assert {p.priority: (p.first_response_minutes, p.resolution_minutes, p.calendar.name)
            for p in session.query(SlaPolicy)} == {
        "high": (10, 240, ROUND_THE_CLOCK), "medium": (240, 2160, BUSINESS_HOURS), "low": (720, 3600, BUSINESS_HOURS)}
    rule = session.query(AutoCloseRule).one()
    assert rule.after_days == 5 and rule.calendar.name == BUSINESS_HOURS
    with pytest.raises(NotFound):
        get_policy(session, "urgent")


def test_default_policies_compute_due_times(session):
    seed_sla_defaults(session, timezone="Europe/Berlin")
    session.commit()
    friday_evening = datetime(2025, 3, 7, 18, 30, tzinfo=UTC)  # 19:30 in Berlin, after closing
    medium = clock_policy_from_row(get_policy(session, "medium"))
    status = sla_status([(friday_evening, "new")], medium, now=friday_evening)
    assert status.first_response.due_at == datetime(2025, 3, 10, 10, tzinfo=UTC)  # Monday 11:00 Berlin
    high = clock_policy_from_row(get_policy(session, "high"))
    assert sla_status([(friday_evening, "new")], high, now=friday_evening).resolution.due_at == \
        friday_evening + 4 * H


def test_calendar_from_row_with_holidays_and_special_hours(session):
    row = BusinessCalendarRow(name="Shanghai office", timezone="Asia/Shanghai",
                              hours_json=json.dumps({"mon": ["09:00-12:00", "13:00-18:00"], "tue": "09:00-18:00"}))
    row.holidays.append(Holiday(date=date(2025, 10, 6), name="Mid-Autumn"))
    row.holidays.append(Holiday(date=date(2025, 10, 7), name="Short day", hours_json=json.dumps(["09:00-10:00"])))
    session.add(row)
    session.commit()
    cal = calendar_from_row(session.get(BusinessCalendarRow, row.id))
    assert cal.timezone == "Asia/Shanghai" and cal.name == "Shanghai office"
    assert row.hours["mon"] == ["09:00-12:00", "13:00-18:00"] and row.hours["sun"] == []
    # Monday 6 October is a holiday, Tuesday has one hour, so 2h from Monday lands next Monday 10:00.
    start = datetime(2025, 10, 6, 1, tzinfo=UTC)  # 09:00 in Shanghai
    assert add_business_time(start, 2 * H, cal) == datetime(2025, 10, 13, 2, tzinfo=UTC)


def test_validation_errors_name_the_field(session):
    with pytest.raises(ValidationError) as err:
        BusinessCalendarRow(name="x", timezone="Nowhere/City", hours_json=hours_to_json({"mon": "09:00-17:00"}))
    assert err.value.field == "timezone"
    with pytest.raises(ValidationError) as err:
        BusinessCalendarRow(name="x", hours_json=json.dumps({"mon": ["18:00-02:00"]}))
    assert err.value.field == "hours"
    with pytest.raises(ValidationError) as err:
        BusinessCalendarRow(name="x", hours_json="{not json")
    assert err.value.field == "hours"
    with pytest.raises(ValidationError) as err:
        SlaPolicy(priority="urgent")
    assert err.value.field == "priority"
    with pytest.raises(ValidationError) as err:
        SlaPolicy(first_response_minutes=0)
    assert err.value.field == "first_response_minutes"
    with pytest.raises(ValidationError) as err:
        SlaPolicy(reminder_share=1.5)
    assert err.value.field == "reminder_share"
    with pytest.raises(ValidationError):
        AutoCloseRule(after_days=0)


def test_one_policy_per_priority(session):
    seed_sla_defaults(session)
    session.commit()
    calendar_id = get_policy(session, "low").calendar_id
    session.add(SlaPolicy(priority="low", first_response_minutes=5, resolution_minutes=10, calendar_id=calendar_id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()

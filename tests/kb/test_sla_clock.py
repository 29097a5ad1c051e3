"""SLA clocks over a status history: pauses, stops, reopening, reminders and breach at the
exact due instant; "now" comes from kb.db.utcnow, pinned with time-machine."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from kb.sla.calendar import BusinessCalendar
from kb.sla.clock import (PAUSED, REPLY, RUNNING, STOPPED, ClockPolicy, auto_close_at, clock_status,
                          sla_status)

UTC = timezone.utc
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)
CAL = BusinessCalendar.weekdays("UTC", "09:00-17:00")
POLICY = ClockPolicy(calendar=CAL, first_response=H, resolution=4 * H)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


MON_9 = utc(2025, 3, 10, 9)


def test_running_clock_due_remaining_and_share():
    events = [(MON_9, "new")]
    s = sla_status(events, POLICY, now=MON_9 + 3 * H)
    res = s.resolution
    assert res.state == RUNNING
    assert res.elapsed == 3 * H and res.remaining == H and res.share == 0.75
    assert res.due_at == MON_9 + 4 * H
    assert res.reminder_at == MON_9 + 3 * H and res.reminder_due
    assert not res.breached
    assert s.first_response.breached and s.first_response.breached_at == MON_9 + H
    assert s.breached and s.next_due_at == MON_9 + 4 * H  # the only unbreached running clock


def test_breach_at_exactly_the_due_instant():
    events = [(MON_9, "new")]
    due = sla_status(events, POLICY, now=MON_9).resolution.due_at
    just_before = sla_status(events, POLICY, now=due - US).resolution
    at_due = sla_status(events, POLICY, now=due).resolution
    assert not just_before.breached and just_before.remaining == US
    assert at_due.breached and at_due.breached_at == due and at_due.remaining == timedelta(0)


def test_ticket_filed_friday_evening_is_due_monday():
    friday = utc(2025, 3, 7, 16)
    res = sla_status([(friday, "new")], POLICY, now=friday).resolution
    assert res.due_at == utc(2025, 3, 10, 12)  # 1h on Friday, 3h on Monday
    saturday = utc(2025, 3, 8, 20)
    res = sla_status([(saturday, "new")], POLICY, now=saturday).resolution
    assert res.elapsed == timedelta(0) and res.due_at == utc(2025, 3, 10, 13)


def test_waiting_for_requester_pauses_and_moves_the_due_time():
    events = [(MON_9, "new"), (MON_9 + H, "in_progress"), (MON_9 + 2 * H, "waiting_for_requester"),
              (utc(2025, 3, 11, 10), "in_progress")]
    paused = clock_status("resolution", events, 4 * H, POLICY, now=utc(2025, 3, 10, 15))
    assert paused.state == PAUSED and paused.elapsed == 2 * H and paused.due_at is None
    assert not paused.reminder_due
    resumed = clock_status("resolution", events, 4 * H, POLICY, now=utc(2025, 3, 11, 10, 30))
    assert resumed.state == RUNNING and resumed.elapsed == 2.5 * H
    assert resumed.due_at == utc(2025, 3, 11, 12)
    assert resumed.reminder_at == utc(2025, 3, 11, 11)


def test_resolution_stops_and_reopening_resumes():
    events = [(MON_9, "new"), (MON_9 + 3 * H, "resolved")]
    stopped = clock_status("resolution", events, 4 * H, POLICY, now=utc(2025, 3, 12, 9))
    assert stopped.state == STOPPED and stopped.stopped_at == MON_9 + 3 * H
    assert stopped.elapsed == 3 * H and not stopped.breached and stopped.due_at == MON_9 + 4 * H
    events.append((utc(2025, 3, 11, 9), "reopened"))
    reopened = clock_status("resolution", events, 4 * H, POLICY, now=utc(2025, 3, 11, 11))
    assert reopened.state == RUNNING and reopened.stopped_at is None
    assert reopened.breached_at == utc(2025, 3, 11, 10) and reopened.elapsed == 5 * H
    assert reopened.overdue_by == H and reopened.share == 1.25


def test_resolving_at_the_due_instant_is_a_breach():
    events = [(MON_9, "new"), (MON_9 + 4 * H, "resolved")]
    assert clock_status("resolution", events, 4 * H, POLICY, now=MON_9 + 5 * H).breached
    events = [(MON_9, "new"), (MON_9 + 4 * H - US, "resolved")]
    assert not clock_status("resolution", events, 4 * H, POLICY, now=MON_9 + 5 * H).breached


def test_first_response_stops_at_the_first_public_reply_for_good():
    events = [(MON_9, "new"), (MON_9 + 20 * MIN, "in_progress"), (MON_9 + 40 * MIN, REPLY),
              (MON_9 + 50 * MIN, "waiting_for_requester"), (MON_9 + 5 * H, "in_progress")]
    first = sla_status(events, POLICY, now=MON_9 + 6 * H).first_response
    assert first.state == STOPPED and first.stopped_at == MON_9 + 40 * MIN
    assert first.elapsed == 40 * MIN and not first.breached
    assert not first.reminder_due


def test_first_response_breached_before_the_reply():
    events = [(MON_9, "new"), (MON_9 + 90 * MIN, REPLY)]
    first = sla_status(events, POLICY, now=MON_9 + 2 * H).first_response
    assert first.breached_at == MON_9 + H and first.elapsed == 90 * MIN


def test_events_after_now_and_out_of_order_are_handled():
    events = [(MON_9 + 2 * H, "resolved"), (MON_9, "new")]
    res = sla_status(events, POLICY, now=MON_9 + H).resolution
    assert res.state == RUNNING and res.elapsed == H
    assert sla_status([], POLICY, now=MON_9).resolution.state == "not_started"


def test_round_the_clock_policy_counts_weekends():
    policy = ClockPolicy(calendar=BusinessCalendar.always("Europe/Berlin"), first_response=15 * MIN,
                         resolution=4 * H)
    saturday = utc(2025, 3, 29, 23)  # Berlin springs forward during these four hours
    assert sla_status([(saturday, "new")], policy, now=saturday).resolution.due_at == saturday + 4 * H


def test_now_defaults_to_kb_db_utcnow():
    events = [(MON_9, "new"), (MON_9 + 30 * MIN, REPLY)]
    with time_machine.travel(utc(2025, 3, 10, 12, 0), tick=False):
        status = sla_status(events, POLICY)
    assert status.resolution.as_of == utc(2025, 3, 10, 12)
    assert status.resolution.elapsed == 3 * H and status.resolution.reminder_due
    with time_machine.travel(utc(2025, 3, 10, 13, 0), tick=False):
        assert sla_status(events, POLICY).resolution.breached


def test_auto_close():
    resolved = utc(2025, 3, 10, 16)  # Monday
    assert auto_close_at(resolved, 5) == resolved + timedelta(days=5)
    assert auto_close_at(resolved, 5, CAL) == utc(2025, 3, 17, 17)


def test_policy_validation():
    with pytest.raises(ValueError):
        ClockPolicy(calendar=CAL, first_response=timedelta(0), resolution=H)
    with pytest.raises(ValueError):
        ClockPolicy(calendar=CAL, first_response=H, resolution=H, reminder_share=1.0)
    with pytest.raises(ValueError):
        sla_status([(datetime(2025, 3, 10, 9), "new")], POLICY, now=MON_9)  # naive event time

"""A ticket's SLA clocks written back to its row: due times over a weekend and a holiday,
the pause while waiting for the requester, the first response, breaches, and the
"not configured" case. The default policies are seeded in UTC: business hours Monday to
Friday 07:00-19:00; Medium = 4 business hours / 36 business hours, High = 15 min / 4 h 24x7."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import event, func, select

from kb import ticket_sla
from kb.sla.clock import PAUSED, RUNNING, STOPPED
from kb.sla.models import BUSINESS_HOURS, BusinessCalendarRow, Holiday, get_policy, seed_sla_defaults
from kb.ticket_events import AGENT_PUBLIC_REPLY, CREATED, NOTE, PRIORITY, TicketEvent, record_event
from kb.ticket_flow import apply_transition
from kb.tickets import Ticket

UTC = timezone.utc
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


FRI_18 = utc(2025, 3, 7, 18)   # a Friday, one business hour before closing
MON = date(2025, 3, 10)
MON_7, MON_10 = utc(2025, 3, 10, 7), utc(2025, 3, 10, 10)
TUE_10 = utc(2025, 3, 11, 10)


def file_ticket(session, requester, at, *, priority="medium", team=None, assignee=None, title="VPN down"):
    """A ticket row plus its ``created`` event, as kb.tickets.create_ticket registers one."""
    ticket = Ticket(title=title, description="It fails from home.", requester_id=requester.id, status="new",
                    priority=priority, created_at=at, updated_at=at,
                    team_id=getattr(team, "id", None), assignee_id=getattr(assignee, "id", None))
    session.add(ticket)
    session.flush()
    record_event(session, None, ticket, CREATED, to_status="new", now=at)
    return ticket


def walk(session, ticket, statuses, at):
    """System moves through the lifecycle table, all at ``at``."""
    for status in statuses:
        apply_transition(session, None, ticket, status, now=at)


def add_holiday(session, day, name="Holiday"):
    cal = session.scalar(select(BusinessCalendarRow).filter_by(name=BUSINESS_HOURS))
    session.add(Holiday(calendar_id=cal.id, date=day, name=name))
    session.flush()


@pytest.fixture
def sla(session):
    seed_sla_defaults(session, timezone="UTC")
    session.commit()


@pytest.fixture
def requester(make_user):
    return make_user("requester")


def test_not_configured_does_nothing(session, requester):
    ticket = file_ticket(session, requester, FRI_18)
    record_event(session, None, ticket, AGENT_PUBLIC_REPLY, now=FRI_18 + H)
    assert ticket_sla.policy_for(session, ticket) is None
    assert ticket_sla.status(session, ticket, now=FRI_18 + H) is None
    assert ticket_sla.refresh(session, ticket, now=FRI_18 + H) is None
    assert (ticket.response_due_at, ticket.resolution_due_at, ticket.next_due_at, ticket.breached_at,
            ticket.first_responded_at) == (None, None, None, None, None)


def test_filed_friday_evening_is_due_monday(session, sla, requester):
    ticket = file_ticket(session, requester, FRI_18)
    # 1 business hour on Friday (18-19), then Monday from 07:00.
    assert ticket.response_due_at == MON_10
    # 36 business hours: Fri 1 + Mon 12 + Tue 12 + Wed 11 -> Wednesday 18:00.
    assert ticket.resolution_due_at == utc(2025, 3, 12, 18)
    assert ticket.next_due_at == MON_10
    assert ticket.breached_at is None and ticket.first_responded_at is None
    st = ticket_sla.status(session, ticket, now=utc(2025, 3, 10, 9))
    assert st.first_response.reminder_at == utc(2025, 3, 10, 9) and st.first_response.reminder_due
    assert not st.first_response.breached


def test_holiday_moves_the_due_time_and_the_cache_follows_the_configuration(session, sla, requester):
    first = file_ticket(session, requester, FRI_18)
    assert first.response_due_at == MON_10
    add_holiday(session, MON)  # the flush drops the cached policies at once, no commit needed
    second = file_ticket(session, requester, FRI_18)
    assert second.response_due_at == TUE_10
    assert second.resolution_due_at == utc(2025, 3, 13, 18)  # one business day later
    policy = get_policy(session, "medium")
    policy.first_response_minutes = 60
    session.flush()
    # One business hour from Friday 18:00 ends at Friday's closing time.
    assert file_ticket(session, requester, FRI_18).response_due_at == utc(2025, 3, 7, 19)


def test_waiting_for_requester_pauses_both_clocks(session, sla, requester):
    ticket = file_ticket(session, requester, MON_7)
    walk(session, ticket, ["assigned", "acknowledged", "in_progress"], MON_7 + H)
    apply_transition(session, None, ticket, "waiting_for_requester", now=MON_7 + H)
    assert (ticket.response_due_at, ticket.resolution_due_at, ticket.next_due_at) == (None, None, None)
    st = ticket_sla.status(session, ticket, now=MON_7 + 5 * H)
    assert st.first_response.state == PAUSED and st.first_response.elapsed == H
    # The requester answers at 12:00: 3 business hours left of the first response.
    apply_transition(session, None, ticket, "in_progress", now=utc(2025, 3, 10, 12))
    assert ticket.response_due_at == utc(2025, 3, 10, 15)
    assert ticket.next_due_at == utc(2025, 3, 10, 15)
    # Resolution: 36 h, 1 h used before the pause; 35 h from Monday 12:00 = Mon 7 + Tue 12
    # + Wed 12 + Thu 4 -> Thursday 11:00 (without the pause it would be Wednesday 19:00).
    assert ticket.resolution_due_at == utc(2025, 3, 13, 11)


def test_agent_reply_stops_the_first_response_clock(session, sla, requester, make_user):
    agent = make_user("agent")
    ticket = file_ticket(session, requester, MON_7)
    record_event(session, agent, ticket, NOTE, now=MON_7 + H)  # a note is not a response
    assert ticket.first_responded_at is None and ticket.response_due_at == utc(2025, 3, 10, 11)
    record_event(session, agent, ticket, AGENT_PUBLIC_REPLY, now=MON_7 + 2 * H)
    assert ticket.first_responded_at == MON_7 + 2 * H
    assert ticket.response_due_at is None
    assert ticket.next_due_at == ticket.resolution_due_at == utc(2025, 3, 12, 19)
    record_event(session, agent, ticket, AGENT_PUBLIC_REPLY, now=MON_7 + 3 * H)
    assert ticket.first_responded_at == MON_7 + 2 * H  # the first one counts
    assert ticket.breached_at is None


def test_late_reply_marks_the_breach_and_keeps_it_for_the_scheduler(session, sla, requester, make_user):
    agent = make_user("agent")
    ticket = file_ticket(session, requester, FRI_18)
    record_event(session, agent, ticket, AGENT_PUBLIC_REPLY, now=MON_10 + 30 * MIN)
    assert ticket.breached_at == MON_10
    assert ticket.first_responded_at == MON_10 + 30 * MIN
    # The breached first response is due at MON_10 and the scheduler has not seen it yet
    # (next_due_at still pointed at it): it stays the ticket's next due time.
    assert ticket.next_due_at == MON_10
    assert ticket.response_due_at is None  # stopped by the reply


def test_refresh_without_a_pending_breach_sorts_by_the_next_running_clock(session, sla, requester, make_user):
    agent = make_user("agent")
    ticket = file_ticket(session, requester, FRI_18)
    st = ticket_sla.status(session, ticket, now=MON_10 + MIN)
    events = ticket_sla.ticket_events_for_clock(session, ticket)
    ticket_sla.apply_status(ticket, st, events, MON_10 + MIN, pending_breach=False)
    assert ticket.next_due_at == ticket.resolution_due_at == utc(2025, 3, 12, 18)
    assert ticket.breached_at == MON_10
    record_event(session, agent, ticket, AGENT_PUBLIC_REPLY, now=MON_10 + 2 * MIN)
    assert ticket.next_due_at == utc(2025, 3, 12, 18)  # no longer pending: the scheduler handled it


def test_priority_change_uses_the_new_targets(session, sla, requester):
    ticket = file_ticket(session, requester, FRI_18)
    ticket.priority = "high"
    record_event(session, None, ticket, PRIORITY, data={"from": "medium", "to": "high"}, now=FRI_18 + 5 * MIN)
    # High runs on the 24x7 calendar: 15 minutes and 4 hours from Friday 18:00.
    assert ticket.response_due_at == FRI_18 + 15 * MIN
    assert ticket.resolution_due_at == FRI_18 + 4 * H


def test_resolved_stops_and_reopened_resumes(session, sla, requester):
    ticket = file_ticket(session, requester, MON_7)
    walk(session, ticket, ["assigned", "acknowledged", "in_progress"], MON_7)
    apply_transition(session, None, ticket, "resolved", now=MON_7 + 2 * H)
    assert (ticket.response_due_at, ticket.resolution_due_at, ticket.next_due_at) == (None, None, None)
    st = ticket_sla.status(session, ticket, now=MON_7 + 5 * H)
    assert st.resolution.state == STOPPED and st.first_response.state == STOPPED
    apply_transition(session, None, ticket, "reopened", now=utc(2025, 3, 11, 7))
    # 2 h used; 34 h left from Tuesday 07:00 -> Wednesday 12 h, Thursday 10 h -> Thursday 17:00.
    assert ticket.resolution_due_at == utc(2025, 3, 13, 17)
    assert ticket.response_due_at is None  # the first response clock stopped for good


def test_merged_ticket_stops_its_clocks(session, sla, requester):
    ticket = file_ticket(session, requester, MON_7)
    apply_transition(session, None, ticket, "merged", now=MON_7 + H)
    assert ticket.next_due_at is None and ticket.resolution_due_at is None
    st = ticket_sla.status(session, ticket, now=utc(2025, 3, 20, 12))
    assert st.resolution.state == STOPPED and not st.breached


def test_refresh_costs_one_query_and_records_nothing(session, sla, requester, db):
    ticket = file_ticket(session, requester, FRI_18)
    session.flush()
    events_before = session.scalar(select(func.count()).select_from(TicketEvent))
    statements = []

    def count(*_args):
        statements.append(1)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        st = ticket_sla.refresh(session, ticket, now=MON_7)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert st.first_response.state == RUNNING
    assert len(statements) == 1
    assert session.scalar(select(func.count()).select_from(TicketEvent)) == events_before


def test_ticket_without_created_event_starts_at_its_creation(session, sla, requester):
    ticket = Ticket(title="Old", description="From before events.", requester_id=requester.id, status="new",
                    priority="medium", created_at=FRI_18, updated_at=FRI_18)
    session.add(ticket)
    session.flush()
    with time_machine.travel(utc(2025, 3, 10, 8), tick=False):
        st = ticket_sla.refresh(session, ticket)
    assert st.first_response.elapsed == 2 * H
    assert ticket.response_due_at == MON_10


def test_policies_cache_is_dropped_on_commit(session, sla):
    first = ticket_sla.policies(session)
    assert ticket_sla.policies(session) is first
    session.commit()
    assert ticket_sla.policies(session) is not first
    assert set(first) == {"high", "medium", "low"}

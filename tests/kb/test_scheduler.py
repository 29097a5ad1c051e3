"""The SLA scheduler at exact instants: reminders at 75 %, escalation on breach across a
weekend and a holiday, no reminder while waiting for the requester, auto-close after N
business days, and idempotency (a second pass sends nothing)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from kb.notifications import unread_count
from kb.scheduler import run_scheduler
from kb.sla.models import AutoCloseRule, seed_sla_defaults
from kb.teams import Team
from kb.ticket_events import AGENT_PUBLIC_REPLY, ESCALATED, REMINDER, REPLY, STATUS, TicketEvent, record_event
from kb.ticket_flow import apply_transition
from kb.ticket_records import Notification
from kb.tickets import Ticket
from tests.kb.test_ticket_sla import FRI_18, MON, MON_7, MON_10, TUE_10, add_holiday, file_ticket, utc, walk

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


@pytest.fixture
def sla(session):
    seed_sla_defaults(session, timezone="UTC")
    session.commit()


@pytest.fixture
def people(make_user, session):
    p = {"requester": make_user("requester"), "agent": make_user("agent"), "lead": make_user("lead"),
         "admin": make_user("admin"), "other_admin": make_user("admin")}
    p["team"] = Team(name="Network", lead_id=p["lead"].id)
    session.add(p["team"])
    session.commit()
    return p


def events(session, ticket, kind):
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                          TicketEvent.kind == kind).order_by(TicketEvent.id)))


def inbox(session, user, kind=None):
    stmt = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(session.scalars(stmt))


def test_reminder_at_75_percent_once(session, sla, people):
    t = file_ticket(session, people["requester"], FRI_18, team=people["team"], assignee=people["agent"])
    session.commit()
    # 75 % of the 4-business-hour first response: Friday 18-19 plus Monday 07-09.
    assert run_scheduler(session, now=utc(2025, 3, 10, 9) - SEC)["reminders"] == 0
    counts = run_scheduler(session, now=utc(2025, 3, 10, 9))
    assert counts["reminders"] == 1 and counts["notifications"] == 1 and counts["escalations"] == 0
    assert t.reminder_sent_at == utc(2025, 3, 10, 9)
    [ev] = events(session, t, REMINDER)
    assert ev.actor_id is None and ev.payload["clock"] == "first_response"
    assert ev.payload["notified"] == [people["agent"].id]
    [note] = inbox(session, people["agent"])
    assert note.kind == "sla_reminder" and t.reference in note.text and note.ticket_id == t.id
    assert inbox(session, people["lead"]) == []
    session.commit()
    again = run_scheduler(session, now=utc(2025, 3, 10, 9, 1))
    assert again["reminders"] == 0 and again["notifications"] == 0
    assert len(events(session, t, REMINDER)) == 1 and len(inbox(session, people["agent"])) == 1


def test_reminder_goes_to_the_lead_when_unassigned_and_to_admins_without_a_team(session, sla, people):
    unassigned = file_ticket(session, people["requester"], MON_7, team=people["team"])
    orphan = file_ticket(session, people["requester"], MON_7)
    run_scheduler(session, now=MON_10)
    assert [n.ticket_id for n in inbox(session, people["lead"], "sla_reminder")] == [unassigned.id]
    for admin in (people["admin"], people["other_admin"]):
        assert [n.ticket_id for n in inbox(session, admin, "sla_reminder")] == [orphan.id]
    assert inbox(session, people["agent"]) == []


def test_inactive_assignee_falls_back_to_the_lead(session, sla, people):
    people["agent"].active = False
    t = file_ticket(session, people["requester"], MON_7, team=people["team"], assignee=people["agent"])
    run_scheduler(session, now=MON_10)
    assert [n.ticket_id for n in inbox(session, people["lead"])] == [t.id]
    assert inbox(session, people["agent"]) == []


def test_breach_across_a_weekend_and_a_holiday_escalates_once(session, sla, people):
    add_holiday(session, MON, "Founders' day")
    t = file_ticket(session, people["requester"], FRI_18, team=people["team"], assignee=people["agent"])
    session.commit()
    assert t.response_due_at == TUE_10
    assert run_scheduler(session, now=MON_10)["reminders"] == 0  # the holiday does not count
    before = run_scheduler(session, now=TUE_10 - SEC)
    assert before["escalations"] == 0 and before["reminders"] == 1
    counts = run_scheduler(session, now=TUE_10)
    assert counts["escalations"] == 1 and counts["notifications"] == 2  # the lead and the assignee
    assert t.breached_at == TUE_10 and t.escalated_at == TUE_10
    assert t.next_due_at == t.resolution_due_at  # the breached clock leaves the due-time sort
    [ev] = events(session, t, ESCALATED)
    assert ev.payload["clock"] == "first_response" and ev.payload["breached_at"] == TUE_10.isoformat()
    assert set(ev.payload["notified"]) == {people["lead"].id, people["agent"].id}
    assert [n.kind for n in inbox(session, people["lead"])] == ["sla_escalation"]
    session.commit()
    assert run_scheduler(session, now=TUE_10 + 5 * MIN)["escalations"] == 0
    assert len(events(session, t, ESCALATED)) == 1 and unread_count(session, people["lead"]) == 1


def test_escalation_without_a_team_lead_goes_to_admins(session, sla, people):
    t = file_ticket(session, people["requester"], MON_7, assignee=people["agent"])
    run_scheduler(session, now=utc(2025, 3, 10, 11))
    for who in ("admin", "other_admin", "agent"):
        assert [n.kind for n in inbox(session, people[who], "sla_escalation")] == ["sla_escalation"], who
    assert t.escalated_at == utc(2025, 3, 10, 11)


def test_no_reminder_while_waiting_for_the_requester(session, sla, people):
    t = file_ticket(session, people["requester"], MON_7, team=people["team"], assignee=people["agent"])
    walk(session, t, ["assigned", "acknowledged", "in_progress", "waiting_for_requester"], MON_7 + H)
    # Paused after 1 of 4 hours: nothing is due however long the requester takes.
    counts = run_scheduler(session, now=utc(2025, 3, 12, 18))
    assert counts == {"checked": 0, "reminders": 0, "escalations": 0, "auto_closed": 0, "notifications": 0}
    apply_transition(session, None, t, "in_progress", now=utc(2025, 3, 13, 7))
    # 2 more business hours reach 75 %: Thursday 09:00.
    assert run_scheduler(session, now=utc(2025, 3, 13, 9) - SEC)["reminders"] == 0
    assert run_scheduler(session, now=utc(2025, 3, 13, 9))["reminders"] == 1


def test_a_breach_seen_first_by_an_event_still_escalates(session, sla, people):
    """High priority (24x7): the first response is escalated; the resolution clock breaches
    and an agent replies 30 seconds later, before the next pass: that pass still escalates it."""
    t = file_ticket(session, people["requester"], MON_7, priority="high", team=people["team"],
                    assignee=people["agent"])
    run_scheduler(session, now=MON_7 + 15 * MIN)
    record_event(session, people["agent"], t, AGENT_PUBLIC_REPLY, now=MON_7 + 20 * MIN)
    due = MON_7 + 4 * H
    record_event(session, people["agent"], t, AGENT_PUBLIC_REPLY, now=due + 30 * SEC)
    assert t.breached_at == MON_7 + 15 * MIN and t.next_due_at == due
    counts = run_scheduler(session, now=due + MIN)
    assert counts["escalations"] == 1
    assert [e.payload["clock"] for e in events(session, t, ESCALATED)] == ["first_response", "resolution"]
    assert t.next_due_at is None
    assert run_scheduler(session, now=due + 2 * MIN)["escalations"] == 0


def test_priority_change_gets_its_own_reminder(session, sla, people):
    t = file_ticket(session, people["requester"], MON_7, priority="low", team=people["team"],
                    assignee=people["agent"])
    # Low: 12 business hours to respond, reminder at 9 h (Monday 16:00).
    assert run_scheduler(session, now=utc(2025, 3, 10, 16))["reminders"] == 1
    t.priority = "medium"
    record_event(session, None, t, "priority", data={"to": "medium"}, now=utc(2025, 3, 10, 16, 30))
    counts = run_scheduler(session, now=utc(2025, 3, 10, 16, 31))
    # Under Medium the 4-hour first response breached at 11:00 and was never escalated.
    assert counts["escalations"] == 1
    assert [e.payload["priority"] for e in events(session, t, REMINDER)] == ["low"]


def test_a_stale_due_time_is_repaired_without_touching_updated_at(session, sla, people):
    t = file_ticket(session, people["requester"], MON_7, team=people["team"], assignee=people["agent"])
    session.commit()
    # As if written by an older version: a due time in the past although nothing breached.
    session.execute(update(Ticket).where(Ticket.id == t.id)
                    .values(next_due_at=MON_7 + MIN, updated_at=Ticket.updated_at))
    session.commit()
    session.expire_all()
    assert t.next_due_at == MON_7 + MIN and t.updated_at == MON_7
    counts = run_scheduler(session, now=MON_7 + 2 * MIN)
    assert counts["checked"] == 1 and counts["escalations"] == counts["reminders"] == 0
    session.commit()
    session.expire_all()
    assert t.next_due_at == t.response_due_at == MON_7 + 4 * H
    assert t.updated_at == MON_7  # bookkeeping is not an update


def test_closed_and_resolved_tickets_are_left_alone(session, sla, people):
    t = file_ticket(session, people["requester"], MON_7, team=people["team"])
    walk(session, t, ["assigned", "acknowledged", "in_progress", "resolved"], MON_7 + H)
    counts = run_scheduler(session, now=utc(2025, 3, 10, 18))
    assert counts["reminders"] == counts["escalations"] == 0 and events(session, t, ESCALATED) == []


def test_batches_commit_as_they_go(session, sla, people):
    tickets = [file_ticket(session, people["requester"], MON_7, team=people["team"]) for _ in range(3)]
    commits = []
    counts = run_scheduler(session, now=utc(2025, 3, 10, 11), batch_size=1,
                           commit=lambda: (commits.append(1), session.commit()))
    assert counts["escalations"] == 3 and counts["checked"] == 3 and len(commits) == 3
    assert all(t.escalated_at is not None for t in tickets)


def test_nothing_configured_means_nothing_done(session, people):
    t = file_ticket(session, people["requester"], MON_7, team=people["team"])
    counts = run_scheduler(session, now=utc(2025, 4, 1, 12))
    assert counts == {"checked": 0, "reminders": 0, "escalations": 0, "auto_closed": 0, "notifications": 0}
    assert t.next_due_at is None and inbox(session, people["lead"]) == []


def test_default_now_comes_from_the_clock(session, sla, people):
    t = file_ticket(session, people["requester"], MON_7, team=people["team"], assignee=people["agent"])
    with time_machine.travel(utc(2025, 3, 10, 10), tick=False):
        assert run_scheduler(session)["reminders"] == 1
    assert t.reminder_sent_at == utc(2025, 3, 10, 10)


# -- auto-close -------------------------------------------------------------------------------------
def resolved_ticket(session, people, at):
    t = file_ticket(session, people["requester"], at - 2 * H, team=people["team"], assignee=people["agent"])
    walk(session, t, ["assigned", "acknowledged", "in_progress"], at - H)
    apply_transition(session, None, t, "resolved", now=at)
    return t


def test_auto_close_after_five_business_days(session, sla, people):
    t = resolved_ticket(session, people, MON_10)
    # Resolved Monday: the 5th working date after is the next Monday; closes at its 19:00.
    closes = utc(2025, 3, 17, 19)
    assert run_scheduler(session, now=closes - SEC)["auto_closed"] == 0 and t.status == "resolved"
    counts = run_scheduler(session, now=closes)
    assert counts["auto_closed"] == 1
    assert t.status == "closed" and t.closed_at == closes
    last = events(session, t, STATUS)[-1]
    assert last.actor_id is None and last.to_status == "closed" and last.payload["auto"] is True
    assert "5 business days" in last.payload["reason"]
    [note] = inbox(session, people["requester"], "auto_closed")
    assert t.reference in note.text
    assert [n.kind for n in inbox(session, people["requester"])][-2:] == ["survey", "auto_closed"]
    assert run_scheduler(session, now=closes + H)["auto_closed"] == 0
    assert len(inbox(session, people["requester"], "auto_closed")) == 1


def test_auto_close_skips_holidays_and_waits_after_a_requester_reply(session, sla, people):
    add_holiday(session, date(2025, 3, 14))  # Friday
    quiet = resolved_ticket(session, people, MON_10)
    answered = resolved_ticket(session, people, MON_10)
    record_event(session, people["requester"], answered, REPLY, now=utc(2025, 3, 12, 8))  # Wednesday
    assert run_scheduler(session, now=utc(2025, 3, 17, 19))["auto_closed"] == 0
    assert run_scheduler(session, now=utc(2025, 3, 18, 19))["auto_closed"] == 1
    assert quiet.status == "closed" and answered.status == "resolved"
    # Five working dates after Wednesday, the Friday holiday skipped: Thursday 20 March.
    assert run_scheduler(session, now=utc(2025, 3, 20, 19))["auto_closed"] == 1
    assert answered.status == "closed"


def test_auto_close_rule_can_be_switched_off(session, sla, people):
    t = resolved_ticket(session, people, MON_10)
    session.scalar(select(AutoCloseRule)).active = False
    session.flush()
    assert run_scheduler(session, now=utc(2025, 4, 30, 12))["auto_closed"] == 0
    assert t.status == "resolved"

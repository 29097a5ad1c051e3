"""Insights: ticket volume per day/week stacked by a grouping, and the backlog by age, in SQL."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from kb import insight_figures, insights
from kb.errors import PermissionDenied, ValidationError
from kb.taxonomy import get_category
from kb.teams import Team
from kb.tickets import create_ticket

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def people(make_user):
    return {"lead": make_user("lead"), "agent": make_user("agent"), "alice": make_user()}


def _file(session, who, day: datetime, category="network", sub=None, channel="portal", urgency=None):
    t = create_ticket(session, who, title="Something broke", description="It broke.", now=day, channel=channel,
                      category_id=get_category(session, category).id, urgency=urgency, route=False)
    if sub:  # older rows (and some channels) store a subcategory as the category
        t.category_id = get_category(session, sub).id
    session.commit()
    return t


def _f(**kw):
    kw.setdefault("since", date(2026, 11, 1))
    kw.setdefault("until", date(2026, 11, 30))
    return insights.Filters(**kw)


def test_volume_per_day_stacked_by_category_subcategories_count_for_their_parent(session, people):
    alice = people["alice"]
    _file(session, alice, NOW - timedelta(days=1))
    _file(session, alice, NOW - timedelta(days=1), sub="vpn-remote")  # a subcategory stored as the category
    _file(session, alice, NOW - timedelta(days=2), category="hardware")
    _file(session, alice, NOW - timedelta(days=40))  # before the period
    chart = insights.volume(session, people["lead"], _f())
    assert len(chart.labels) == 30 and chart.labels[0] == "2026-11-01" and chart.labels[-1] == "2026-11-30"
    series = dict(chart.series)
    assert set(series) == {"Network connectivity", "Hardware faults"}
    assert series["Network connectivity"][chart.labels.index("2026-11-29")] == 2
    assert series["Hardware faults"][chart.labels.index("2026-11-28")] == 1
    assert chart.total == 3 and chart.rows()[0] == ["", "Hardware faults", "Network connectivity", "total"]


def test_volume_by_channel_and_priority_and_the_filters(session, people):
    alice = people["alice"]
    team = Team(name="Network")
    session.add(team)
    a = _file(session, alice, NOW - timedelta(days=3), channel="email")
    _file(session, alice, NOW - timedelta(days=3), category="hardware", channel="phone")
    a.team_id = team.id
    session.commit()
    by_channel = dict(insights.volume(session, people["lead"], _f(), by="channel").series)
    assert {k: sum(v) for k, v in by_channel.items()} == {"phone": 1, "email": 1}
    by_priority = insights.volume(session, people["lead"], _f(), by="priority")
    assert sum(by_priority.totals) == 2
    assert insights.volume(session, people["lead"], _f(team_id=team.id)).total == 1
    assert insights.volume(session, people["lead"], _f(channel="phone")).total == 1
    network = get_category(session, "network").id
    assert insights.volume(session, people["lead"], _f(category_id=network)).total == 1


def test_long_periods_are_weekly(session, people):
    _file(session, people["alice"], NOW - timedelta(days=1))
    chart = insights.volume(session, people["lead"], _f(since=date(2026, 6, 1)))
    assert len(chart.labels) <= 27 and all(date.fromisoformat(d).weekday() == 0 for d in chart.labels)
    assert chart.total == 1


def test_backlog_by_age_and_priority(session, people):
    alice = people["alice"]
    _file(session, alice, NOW - timedelta(hours=2))
    _file(session, alice, NOW - timedelta(days=5), urgency="stopped")
    old = _file(session, alice, NOW - timedelta(days=60))
    closed = _file(session, alice, NOW - timedelta(days=2))
    closed.status = "closed"
    session.commit()
    chart = insights.backlog(session, people["lead"], _f(), now=NOW)
    assert chart.labels[0] == "under 1 day" and chart.total == 3
    assert [sum(values[i] for _, values in chart.series) for i in range(5)] == [1, 0, 1, 0, 1]
    assert old.status == "new"


def test_rights_and_bad_filters(session, people):
    with pytest.raises(PermissionDenied):
        insights.volume(session, people["agent"], _f())
    with pytest.raises(PermissionDenied):
        insights.backlog(session, people["alice"], _f())
    with pytest.raises(ValidationError):
        _f(since=date(2026, 12, 1))
    with pytest.raises(ValidationError):
        _f(since=date(2024, 1, 1))
    with pytest.raises(ValidationError):
        _f(channel="pigeon")
    with pytest.raises(ValidationError):
        insights.volume(session, people["lead"], _f(), by="mood")


def test_indicators_resolution_reopen_first_contact_and_satisfaction(session, people):
    from kb import surveys, ticket_work as work
    from kb.db import utcnow

    alice, agent = people["alice"], people["agent"]
    now = utcnow() - timedelta(days=2)

    def worked(title):
        t = create_ticket(session, alice, title=title, description="It broke.", now=now, route=False,
                          category_id=get_category(session, "network").id)
        work.acknowledge(session, agent, t, planned_actions="Look", expected_completion_at=now + timedelta(days=1),
                         now=now)
        return t

    quick = worked("Quick fix")
    work.reply(session, agent, quick, "Restart the VPN client.", now=now)
    work.resolve(session, agent, quick, "Restarted the client.", now=now)
    work.confirm(session, alice, quick, now=now)
    asked = worked("Needed a question")
    work.ask_requester(session, agent, asked, "Which laptop?", now=now)
    work.reply(session, alice, asked, "The ThinkPad.", now=now)
    work.resolve(session, agent, asked, "Replaced the profile.", now=now)
    back = worked("Came back")
    work.resolve(session, agent, back, "Cleared the cache.", now=now)
    work.reopen(session, alice, back, "Still broken", now=now)
    worked("Still open")
    session.commit()
    surveys.submit_survey(session, alice, quick, speed=5, effectiveness=4, communication=3)
    session.commit()
    f = _f(since=(utcnow() - timedelta(days=10)).date(), until=utcnow().date())
    i = insight_figures.period_figures(session, people["lead"], f)[0]
    assert (i.filed, i.resolved, i.reopened, i.first_contact) == (4, 3, 1, 1)
    assert i.resolution_rate == 0.75 and i.reopen_rate == pytest.approx(1 / 3)
    assert i.first_contact_rate == pytest.approx(1 / 3)
    assert (i.surveys, i.speed, i.effectiveness, i.communication) == (1, 5.0, 4.0, 3.0)
    assert i.rows()[2] == ["resolution rate", 0.75, 4]
    # the counters record_event keeps are what a recount from the events gives (the migration's back-fill)
    from sqlalchemy import text

    from kb.ticket_events import RECOUNT_SQL
    from kb.tickets import Ticket

    columns = ("reopen_count", "wait_count", "public_reply_count", "transfer_count")
    kept = {t.id: tuple(getattr(t, c) for c in columns) for t in session.query(Ticket)}
    assert kept[back.id][0] == 1 and kept[asked.id][1] == 1 and kept[quick.id][2] == 1
    session.execute(text(RECOUNT_SQL))
    session.expire_all()
    assert {t.id: tuple(getattr(t, c) for c in columns) for t in session.query(Ticket)} == kept
    empty = insight_figures.period_figures(session, people["lead"], _f(since=date(2020, 1, 1),
                                                                         until=date(2020, 1, 2)))[0]
    assert empty.filed == 0 and empty.resolution_rate is None and empty.speed is None


def test_triage_quality_kept_changed_by_the_requester_corrected_by_staff(session, people):
    from kb.ticket_records import TriageCorrection
    from kb.ticket_events import TRANSFERRED, record_event

    alice, lead = people["alice"], people["lead"]
    day = NOW - timedelta(days=1)
    kept = _file(session, alice, day)
    chosen = _file(session, alice, day)
    fixed = _file(session, alice, day)
    session.query(TriageCorrection).delete()  # filing stored the requester's category choice: start clean
    for t in (kept, chosen, fixed):
        t.suggested_category_id, t.suggested_priority = get_category(session, "network").id, t.priority
    session.add(TriageCorrection(ticket_id=chosen.id, field="category", suggested="network", chosen="hardware",
                                 actor_role="requester"))
    session.add(TriageCorrection(ticket_id=fixed.id, field="priority", suggested="low", chosen="high",
                                 actor_role="agent"))
    team = Team(name="Network")
    session.add(team)
    session.flush()
    kept.team_id = chosen.team_id = fixed.team_id = team.id
    record_event(session, lead, fixed, TRANSFERRED, data={"reason": "wrong team"})
    session.commit()
    chart = insight_figures.period_figures(session, lead, _f())[1]
    assert chart.labels == ["category", "priority", "team"]
    series = dict(chart.series)
    assert series["kept"] == [2, 2, 2]
    assert series["changed by the requester"] == [1, 0, 0]
    assert series["corrected by staff"] == [0, 1, 1]

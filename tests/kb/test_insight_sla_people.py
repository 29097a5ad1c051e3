"""Insights on SLA times, satisfaction, agents, accountability and recognition (kb.insight_*)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from kb import insights, surveys, ticket_work as work
from kb.errors import PermissionDenied
from kb.insight_people import accountability, agent_performance, recognition
from kb.insight_satisfaction import ratings, trend
from kb.insight_sla import sla_figures
from kb.scheduler import run_scheduler
from kb.sla.models import seed_sla_defaults
from kb.taxonomy import get_category
from kb.teams import Team, TeamMember
from kb.ticket_sla import backfill_outcomes
from kb.tickets import Ticket, create_ticket

T0 = datetime(2026, 11, 10, 9, 0, tzinfo=timezone.utc)  # a Tuesday
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def desk(session, make_user):
    seed_sla_defaults(session)
    lead, agent, other = make_user("lead"), make_user("agent"), make_user("agent")
    team = Team(name="Desk", lead_id=lead.id)
    session.add(team)
    session.flush()
    session.add_all([TeamMember(team_id=team.id, user_id=agent.id), TeamMember(team_id=team.id, user_id=other.id)])
    session.commit()
    return {"lead": lead, "agent": agent, "other": other, "alice": make_user(), "team": team}


def _high(session, desk, at, *, reply_after=None, resolve_after=None, agent="agent", rating=None):
    """A high-priority ticket (24x7 clocks: 15 min first response, 4 h resolution)."""
    who = desk[agent]
    t = create_ticket(session, desk["alice"], title="Server room is down", description="Nothing works.", now=at,
                      category_id=get_category(session, "network").id, impact="all", urgency="stopped",
                      route=False)
    assert t.priority == "high"
    t.team_id = desk["team"].id
    work.take(session, who, t, now=at + timedelta(minutes=1))
    work.acknowledge(session, who, t, planned_actions="Check the switch.", expected_completion_at=at + timedelta(days=1),
                     now=at + timedelta(minutes=2))
    if reply_after:
        work.reply(session, who, t, "Looking at it.", now=at + reply_after)
    if resolve_after:
        work.resolve(session, who, t, "Restarted the switch.", now=at + resolve_after)
        work.confirm(session, desk["alice"], t, now=at + resolve_after + timedelta(minutes=5))
        if rating:
            surveys.submit_survey(session, desk["alice"], t, speed=rating, effectiveness=rating, communication=rating,
                                  now=at + resolve_after + timedelta(minutes=10))
    session.commit()
    return t


def _f(**kw):
    return insights.Filters(since=kw.pop("since", date(2026, 11, 1)), until=kw.pop("until", date(2026, 11, 30)), **kw)


def test_times_against_targets_compliance_and_breaches_by_team(session, desk):
    met = _high(session, desk, T0, reply_after=timedelta(minutes=5), resolve_after=timedelta(hours=1))
    late = _high(session, desk, T0 + timedelta(days=1), reply_after=timedelta(minutes=45),
                 resolve_after=timedelta(hours=6))
    _high(session, desk, T0 + timedelta(days=2), reply_after=timedelta(minutes=10))  # still open, resolution running
    assert met.response_minutes == pytest.approx(5) and met.response_breached_at is None
    assert late.response_breached_at == T0 + timedelta(days=1, minutes=15)
    assert late.resolution_minutes == pytest.approx(360) and late.resolution_breached_at is not None

    figures = sla_figures(session, desk["lead"], _f())
    response = {c.priority: c for c in figures.of("response")}["high"]
    assert (response.target, response.stopped, response.median, response.p90) == (15.0, 3, 10.0, 45.0)
    assert (response.met, response.missed) == (2, 1)
    resolution = {c.priority: c for c in figures.of("resolution")}["high"]
    assert (resolution.stopped, resolution.met, resolution.missed) == (2, 1, 1)  # the open one is undecided
    assert figures.compliance("response") == pytest.approx(2 / 3)
    chart = figures.breaches_chart()
    assert chart.labels == ["Desk"] and dict(chart.series) == {"response": [1], "resolution": [1]}
    assert ["high" in row for row in figures.rows()].count(True) >= 2
    with pytest.raises(PermissionDenied):
        sla_figures(session, desk["agent"], _f())


def test_backfill_recomputes_the_outcomes_from_the_events(session, desk):
    t = _high(session, desk, T0, reply_after=timedelta(minutes=30), resolve_after=timedelta(hours=2))
    kept = (t.response_minutes, t.response_breached_at, t.resolution_minutes, t.resolution_breached_at)
    session.execute(update(Ticket).values(response_minutes=None, response_breached_at=None, resolution_minutes=None,
                                          resolution_breached_at=None))
    assert backfill_outcomes(session) == 1
    session.expire_all()
    t = session.get(Ticket, t.id)
    assert (t.response_minutes, t.response_breached_at, t.resolution_minutes, t.resolution_breached_at) == kept
    assert kept[1] is not None and kept[3] is None


def test_satisfaction_over_time_and_per_agent_with_counts(session, desk):
    _high(session, desk, T0, reply_after=timedelta(minutes=5), resolve_after=timedelta(hours=1), rating=5)
    _high(session, desk, T0, reply_after=timedelta(minutes=5), resolve_after=timedelta(hours=1), rating=3)
    _high(session, desk, T0 + timedelta(days=3), reply_after=timedelta(minutes=5),
          resolve_after=timedelta(hours=1), rating=2, agent="other")
    tr = trend(session, desk["lead"], _f())
    day = tr.labels.index("2026-11-10")
    assert tr.answers[day] == 2 and tr.means["speed"][day] == pytest.approx(4.0)
    assert tr.means["speed"][tr.labels.index("2026-11-11")] is None
    by_agent = ratings(session, desk["lead"], _f(), by="agent")
    assert [(r.name, r.answers, r.overall) for r in by_agent] == [(desk["other"].name, 1, 2.0),
                                                                 (desk["agent"].name, 2, 4.0)]
    assert [(r.name, r.answers) for r in ratings(session, desk["lead"], _f(), by="team")] == [("Desk", 3)]


def test_agent_performance_is_for_the_agent_admins_and_their_leads(session, desk, make_user):
    _high(session, desk, T0, reply_after=timedelta(minutes=5), resolve_after=timedelta(hours=1), rating=5)
    _high(session, desk, T0, reply_after=timedelta(minutes=30), resolve_after=timedelta(hours=2))
    _high(session, desk, T0, reply_after=timedelta(minutes=5), agent="other")
    rows = agent_performance(session, desk["lead"], _f())
    mine = {r.agent_id: r for r in rows}[desk["agent"].id]
    assert (mine.handled, mine.resolved, mine.reopened) == (2, 2, 0)
    assert mine.response_median == pytest.approx(5) and mine.compliance("response") == 0.5
    assert mine.rating.answers == 1
    assert [r.agent_id for r in agent_performance(session, desk["agent"], _f())] == [desk["agent"].id]
    stranger_lead = make_user("lead")
    assert agent_performance(session, stranger_lead, _f()) == []
    assert len(agent_performance(session, make_user("admin"), _f())) == 2


def test_accountability_names_who_held_the_ticket_at_the_breach(session, desk):
    t = _high(session, desk, T0, reply_after=timedelta(minutes=40))  # response late; still open
    run_scheduler(session, now=T0 + timedelta(hours=5))  # sees the resolution target pass
    session.commit()
    items = accountability(session, desk["lead"], _f(), now=NOW)
    kinds = {i.kind: i for i in items}
    assert set(kinds) == {"response breach", "resolution breach", "commitment missed"}
    assert kinds["resolution breach"].at == T0 + timedelta(hours=4)
    assert kinds["commitment missed"].at == T0 + timedelta(days=1)  # the promised completion time
    assert [i.kind for i in items][0] == "commitment missed"  # the newest first
    assert kinds["response breach"].responsible == desk["agent"].name
    assert kinds["response breach"].at == T0 + timedelta(minutes=15)
    assert [e.kind for e in kinds["response breach"].trail][:2] == ["created", "assigned"]
    assert all(i.ticket.id == t.id for i in items)


def test_recognition_needs_enough_answers(session, desk):
    for _ in range(3):
        _high(session, desk, T0, reply_after=timedelta(minutes=5), resolve_after=timedelta(hours=1), rating=5)
    _high(session, desk, T0, reply_after=timedelta(minutes=5), resolve_after=timedelta(hours=1), rating=5,
          agent="other")
    r = recognition(session, desk["lead"], _f())
    assert [a.id for a in r.agents] == [desk["agent"].id] and r.articles == []

"""The demo's months of history fill every insights dashboard, read through the real figures."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from kb import insights
from kb.db import utcnow
from kb.demo import load_demo
from kb.demo.history import SEED, _plans, _read, load_demo_history
from kb.insight_figures import period_figures
from kb.insight_people import accountability, agent_performance
from kb.insight_problems import recurring_problems
from kb.insight_satisfaction import ratings, trend
from kb.insight_self_service import self_service
from kb.insight_sla import sla_figures
from kb.intake_models import IntakeSession
from kb.taxonomy import top_categories
from kb.tickets import Ticket
from kb.users import get_user_by_email
from search.embedders import HashEmbedder

EMB = HashEmbedder()
CASES = 54


def _period(days: int) -> insights.Filters:
    today = utcnow().date()
    return insights.Filters(since=today - timedelta(days=days - 1), until=today)


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_the_history_fills_every_dashboard_once(session):
    from kb.sla.models import seed_sla_defaults

    seed_sla_defaults(session)
    load_demo(session, embedder=EMB)
    session.commit()
    lead = get_user_by_email(session, "lead@contoso.example")
    agent = get_user_by_email(session, "agent@contoso.example")
    liwei = get_user_by_email(session, "liwei@contoso.example")
    f90, f30 = _period(90), _period(30)
    tickets = _count(session, Ticket)
    assert 250 <= tickets - CASES <= 400

    # Volume: months of tickets, more each month, fewer at weekends, every group filled.
    created = list(session.scalars(select(Ticket.created_at)))
    now = utcnow()
    assert len({(t.year, t.month) for t in created if now - t <= timedelta(days=150)}) >= 5
    ages = [(now - t).days for t in created]
    assert sum(1 for a in ages if a < 30) > 1.5 * sum(1 for a in ages if 90 <= a < 120)
    weekend = [t for t in created if t.weekday() >= 5]
    assert 0 < len(weekend) / 2 < (len(created) - len(weekend)) / 5 / 2  # per day, under half a weekday's
    for by, wanted in (("priority", {"high", "medium", "low"}), ("channel", {"portal", "email", "phone", "chat"}),
                       ("category", {c.name for c in top_categories(session)})):
        chart = insights.volume(session, lead, f90, by=by)
        assert {name for name, values in chart.series if sum(values) > 0} >= wanted, by
        assert sum(1 for total in chart.totals if total) >= 12  # every week of the 90 days has tickets
    backlog = insights.backlog(session, lead, f90)
    assert backlog.total >= 15 and sum(1 for total in backlog.totals if total) >= 4  # open tickets of all ages
    statuses = Counter(session.scalars(select(Ticket.status)))
    assert all(statuses[s] > 0 for s in ("new", "assigned", "acknowledged", "in_progress", "waiting_for_requester",
                                         "resolved", "closed"))

    # The period's indicators and triage quality.
    figures, triage = period_figures(session, lead, f90)
    assert figures.filed >= 250 and figures.reopen_rate > 0 and 0 < figures.first_contact_rate < 1
    assert figures.surveys > 60 and figures.speed is not None
    rows = {row[0]: row[1:] for row in triage.rows()[1:]}
    assert rows["category"][2] > 0 and rows["priority"][2] > 0  # corrected by staff
    assert rows["team"][2] > 0  # transferred

    # SLA: every priority measured, both clocks missed sometimes.
    sla = sla_figures(session, lead, f90)
    assert {c.priority for c in sla.clocks if c.met} == {"high", "medium", "low"}
    for clock in ("response", "resolution"):
        met = sum(c.met for c in sla.clocks if c.clock == clock)
        missed = sum(c.missed for c in sla.clocks if c.clock == clock)
        assert 0 < missed < met / 2, clock

    # Satisfaction differs per agent: Sam is quicker, Li Wei explains better.
    by_agent = {r.id: r for r in ratings(session, lead, f90, by="agent")}
    assert by_agent[agent.id].answers >= 20 and by_agent[liwei.id].answers >= 10
    assert by_agent[agent.id].speed > by_agent[liwei.id].speed
    assert by_agent[liwei.id].communication > by_agent[agent.id].communication
    assert sum(1 for n in trend(session, lead, f90).answers if n) >= 10

    # Self-service: every outcome, honest deflection held and failed, and content gaps.
    out = self_service(session, lead, f90, embedder=EMB)
    s = out.stats
    assert s.deflected > 50 and s.ticket_sessions > 20 and s.abandoned > 20
    assert s.confirmed > 0 and s.failed > 0 and s.unverifiable > 0 and s.honest_rate < s.claimed_rate
    assert out.articles and out.articles[0].held > 0
    assert any("meeting room" in g.example for g in out.gaps) and any("expense" in g.example for g in out.gaps)

    # Recurring problems over the last month: growing ones, one nobody wrote an article for, shrinking ones.
    problems = recurring_problems(session, lead, f30, embedder=EMB).problems
    uncovered = [p for p in problems if p.trend == "growing" and p.article is None and p.draft_ids]
    assert any("printer" in p.title.lower() or "onedrive" in p.title.lower() for p in uncovered)
    assert any(p.trend == "growing" and p.article is not None for p in problems)
    assert any(p.trend == "shrinking" for p in problems)

    # People: both agents' performance, and what went wrong with who was responsible.
    perf = {a.agent_id: a for a in agent_performance(session, lead, f90)}
    for who in (agent, liwei):
        assert perf[who.id].handled > 20 and perf[who.id].resolved > 0 and perf[who.id].rating is not None
    assert sum(perf[a.id].reopened for a in (agent, liwei)) > 0
    kinds = Counter(item.kind for item in accountability(session, lead, f90, limit=500))
    assert kinds["response breach"] and kinds["resolution breach"] and kinds["commitment missed"]

    # Chinese tickets from Wang Fang, handled by Li Wei.
    wangfang = get_user_by_email(session, "wangfang@contoso.example")
    zh = list(session.scalars(select(Ticket).where(Ticket.requester_id == wangfang.id, Ticket.language == "zh")))
    assert len(zh) >= 10 and sum(1 for t in zh if t.assignee_id == liwei.id) >= 0.8 * len(zh)

    # Idempotent: a second load adds nothing.
    sessions = _count(session, IntakeSession)
    load_demo(session, embedder=EMB)
    assert load_demo_history(session, embedder=EMB) == 0
    session.commit()
    assert _count(session, Ticket) == tickets and _count(session, IntakeSession) == sessions


def test_without_history_the_demo_keeps_only_the_cases(session):
    load_demo(session, history=False)
    session.commit()
    assert _count(session, Ticket) == CASES and _count(session, IntakeSession) == 0


def test_the_plan_is_the_same_every_time_for_the_same_day():
    now = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)
    first, again = (_plans(_read(), random.Random(SEED), now) for _ in range(2))
    assert [(p.at, p.requester, p.title, p.fate) for p in first[0]] == [(p.at, p.requester, p.title, p.fate)
                                                                         for p in again[0]]
    assert [(v.at, v.queries) for v in first[1]] == [(v.at, v.queries) for v in again[1]]
    assert all(now - timedelta(days=151) < p.at < now for p in first[0])

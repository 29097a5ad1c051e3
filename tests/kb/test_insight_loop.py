"""Insights on self-service (sessions, honest deflection, top articles, content gaps) and on
recurring problems (clusters by meaning, growing against the previous period, covered or not)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from kb import insights, intake, ticket_work as work
from kb.insight_problems import recurring_problems
from kb.insight_self_service import self_service
from kb.taxonomy import get_category
from kb.tickets import create_ticket
from search.embedders import HashEmbedder

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
EMB = HashEmbedder()


def _f(**kw):
    return insights.Filters(since=kw.pop("since", date(2026, 11, 1)), until=kw.pop("until", date(2026, 11, 30)), **kw)


def _session(session, who, texts, at, *, deflect=None, token=None):
    token = token or intake.new_token()
    for i, text in enumerate(texts):
        intake.record_query(session, who, token, text, [deflect.id] if deflect else [], now=at + timedelta(seconds=i))
    if deflect:
        intake.mark_deflected(session, who, token, deflect.id, now=at + timedelta(minutes=1))
    return token


def test_self_service_sessions_deflection_top_articles_and_gaps(session, make_user, make_article):
    alice, bob, lead = make_user(), make_user(), make_user("lead")
    author = make_user("agent")
    vpn = make_article(title="Connect to the VPN", author=author)
    session.commit()
    day = NOW - timedelta(days=10)
    _session(session, alice, ["vpn", "vpn will not connect"], day, deflect=vpn)
    _session(session, bob, ["vpn connect error"], day - timedelta(days=1), deflect=vpn)
    for who, text in ((alice, "request a second monitor for my desk"), (bob, "second monitor request desk"),
                      (alice, "need a second monitor at my desk please")):
        _session(session, who, [text], day)
    _session(session, bob, ["parking badge renewal"], day)
    intake.sweep_abandoned(session, now=NOW)
    session.commit()

    out = self_service(session, lead, _f(), embedder=EMB, now=NOW)
    assert out.stats.sessions == 6 and out.stats.deflected == 2 and out.stats.abandoned == 4
    assert out.stats.confirmed == 2  # logged in, the 7-day window passed, no ticket followed
    assert dict(out.sessions.series)["abandoned"][out.sessions.labels.index("2026-11-20")] == 4
    assert [(a.title, a.author, a.deflected, a.held) for a in out.articles] == [("Connect to the VPN", author.name, 2, 2)]
    assert len(out.gaps) == 1 and out.gaps[0].sessions == 3 and "monitor" in out.gaps[0].example
    assert out.gap_queries == 4  # the parking question was asked once: not a gap yet
    assert any("monitor" in str(cell) for row in out.rows() for cell in row)


def _ticket(session, who, title, at, agent=None):
    t = create_ticket(session, who, title=title, description=title, now=at, embedder=EMB, route=False,
                      category_id=get_category(session, "network").id)
    if agent:
        work.take(session, agent, t, now=at + timedelta(minutes=5))
        work.acknowledge(session, agent, t, planned_actions="Check.", expected_completion_at=at + timedelta(days=1),
                         now=at + timedelta(minutes=6))
        work.resolve(session, agent, t, "Fixed the access point.", now=at + timedelta(hours=1))
    return t


def test_recurring_problems_grow_against_the_previous_period_and_offer_a_draft(session, make_user):
    lead, agent, alice = make_user("lead"), make_user("agent"), make_user()
    wifi = ["wifi drops on the third floor", "wifi keeps dropping on third floor", "third floor wifi drops again",
            "wifi on the third floor drops every hour"]
    for i, title in enumerate(wifi):
        _ticket(session, alice, title, NOW - timedelta(days=3 + i), agent=agent)
    _ticket(session, alice, "wifi drops on the third floor today", NOW - timedelta(days=40))  # previous period
    for i in range(3):
        _ticket(session, alice, "printer jams on paper tray two", NOW - timedelta(days=5 + i))
    _ticket(session, alice, "my chair is broken", NOW - timedelta(days=2))
    session.commit()
    out = recurring_problems(session, lead, _f(), embedder=EMB)
    assert out.clustered == 8 and out.without_vector == 0
    by_title = {p.title: p for p in out.problems}
    wifi_problem = next(p for p in out.problems if "wifi" in p.title)
    assert wifi_problem.count == 4 and wifi_problem.previous == 1 and wifi_problem.trend == "growing"
    assert len(wifi_problem.draft_ids) == 4 and wifi_problem.article is None  # resolved, no article: draft one
    printer = next(p for p in by_title.values() if "printer" in p.title)
    assert printer.trend == "new" and printer.draft_ids == []  # still open: nothing to draft from yet
    assert not any("chair" in p.title for p in out.problems)  # once is not recurring

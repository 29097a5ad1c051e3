"""Article health: each figure counted right (honest deflections only), each flag at its
threshold edges, the "needs attention" order and pages, permissions, and a query count
that does not grow with the number of articles."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import event

from kb import article_health as ah
from kb.articles import transition_article
from kb.articles_models import ArticleVote
from kb.db import utcnow
from kb.errors import InvalidTransition, PermissionDenied
from kb.intake_models import ABANDONED, DEFLECTED, DeflectionFailure, IntakeSession
from kb.ticket_events import STATUS, record_event
from kb.ticket_records import TicketArticleLink
from kb.tickets import create_ticket

NOW = utcnow()
_tokens = itertools.count(1)


@pytest.fixture
def requester(make_user):
    return make_user()


def vote(session, article, helpful: int, unhelpful: int):
    for i in range(helpful + unhelpful):
        session.add(ArticleVote(article_id=article.id, voter_key=f"user:{next(_tokens)}", helpful=i < helpful))
    session.flush()


def ticket_with(session, requester, article, *, linked_at=None, events=()):
    """A ticket linked to ``article`` at ``linked_at``; ``events`` are (to_status, when)."""
    ticket = create_ticket(session, requester, title="Printer jams", description="Paper jam on floor 2",
                           route=False, now=NOW - timedelta(days=30))
    session.add(TicketArticleLink(ticket_id=ticket.id, article_id=article.id,
                                  created_at=linked_at or NOW - timedelta(days=20)))
    for to_status, when in events:
        record_event(session, None, ticket, STATUS, to_status=to_status, now=when)
    session.flush()
    return ticket


def resolved_tickets(session, requester, article, n: int, reopened: int):
    for i in range(n):
        events = [("resolved", NOW - timedelta(days=10))]
        if i < reopened:
            events.append(("reopened", NOW - timedelta(days=9)))
        ticket_with(session, requester, article, events=events)


def intake(session, article, *, user=None, outcome=DEFLECTED, at=None, failed_by=None):
    at = at or NOW - timedelta(days=30)
    row = IntakeSession(token=f"tok{next(_tokens)}", user_id=user.id if user else None, started_at=at,
                        last_activity_at=at, outcome=outcome, outcome_at=at,
                        deflected_article_id=article.id if outcome == DEFLECTED else None)
    session.add(row)
    session.flush()
    if failed_by is not None:
        session.add(DeflectionFailure(session_id=row.id, ticket_id=failed_by.id, failed_at=at, rule="similar_text"))
        session.flush()
    return row


def fresh(make_article, session, **kw):
    """A published article reviewed 15 days ago (not stale unless a test says so), before
    the tickets of ``resolved_tickets`` were resolved and the votes were cast."""
    article = make_article(**kw)
    article.reviewed_at = NOW - timedelta(days=15)
    session.flush()
    return article


# ------------------------------------------------------------------- figures
def test_each_figure_is_counted(session, make_article, requester):
    article, other = fresh(make_article, session), fresh(make_article, session, title="Unrelated")
    article.view_count = 7
    vote(session, article, helpful=3, unhelpful=1)
    vote(session, other, helpful=0, unhelpful=2)
    link_day = NOW - timedelta(days=20)
    ticket_with(session, requester, article, events=[("resolved", NOW - timedelta(days=10))])
    ticket_with(session, requester, article, events=[("resolved", NOW - timedelta(days=10)),
                                                      ("reopened", NOW - timedelta(days=9))])
    ticket_with(session, requester, article)  # linked, never resolved
    # reopened before the article was linked, then resolved with it: the article is not to blame
    ticket_with(session, requester, article, linked_at=link_day, events=[
        ("resolved", link_day - timedelta(days=3)), ("reopened", link_day - timedelta(days=2)),
        ("resolved", link_day + timedelta(days=1))])
    ticket_with(session, requester, other)
    # deflections: two confirmed, one pending, one anonymous, one failed, one abandoned session
    intake(session, article, user=requester)
    intake(session, article, user=requester, at=NOW - timedelta(days=8))
    intake(session, article, user=requester, at=NOW - timedelta(days=2))
    intake(session, article, user=None)
    failing = create_ticket(session, requester, title="Printer still jams", description="Again", route=False)
    intake(session, article, user=requester, failed_by=failing)
    intake(session, article, user=requester, outcome=ABANDONED)

    health = ah.health_of(session, now=NOW)
    h = health[article.id]
    assert (h.views, h.helpful, h.unhelpful, h.votes) == (7, 3, 1, 4)
    assert (h.linked_tickets, h.resolved_tickets, h.reopened_tickets) == (4, 3, 1)
    assert h.reopen_rate == pytest.approx(1 / 3)
    assert (h.deflections, h.deflections_pending, h.deflections_unverifiable, h.deflections_failed) == (2, 1, 1, 1)
    o = health[other.id]
    assert (o.helpful, o.unhelpful, o.linked_tickets, o.resolved_tickets, o.deflections) == (0, 2, 1, 0, 0)
    assert o.reopen_rate is None and o.unhelpful_share == 1.0
    # the flags' evidence: since the review 15 days ago, the fourth ticket's resolution is older
    assert (h.helpful_since_review, h.unhelpful_since_review, h.votes_since_review) == (3, 1, 4)
    assert (h.resolved_since_review, h.reopened_since_review) == (2, 1)


def test_flags_weigh_only_the_evidence_since_the_last_review(session, make_article, make_user, requester):
    article = make_article()
    article.reviewed_at = NOW - timedelta(days=30)
    vote(session, article, 0, 5)
    resolved_tickets(session, requester, article, 2, 2)
    assert ah.health_of(session, [article.id], now=NOW)[article.id].flags == ("reopened", "voted_down")
    review = utcnow() + timedelta(seconds=1)  # after the votes above were cast
    ah.mark_reviewed(session, make_user("lead"), article, now=review)
    h = ah.health_of(session, [article.id], now=review + timedelta(hours=1))[article.id]
    assert h.flags == () and (h.unhelpful, h.reopened_tickets) == (5, 2)  # the totals stay
    assert (h.votes_since_review, h.resolved_since_review) == (0, 0)
    # new evidence after the review counts again
    for key in ("user:a1", "user:a2", "user:a3"):
        session.add(ArticleVote(article_id=article.id, voter_key=key, helpful=False,
                                created_at=review + timedelta(hours=2)))
    session.flush()
    later = review + timedelta(hours=3)
    assert ah.health_of(session, [article.id], now=later)[article.id].flags == ()  # 3 votes: too few
    for key in ("user:a4", "user:a5"):
        session.add(ArticleVote(article_id=article.id, voter_key=key, helpful=False,
                                created_at=review + timedelta(hours=2)))
    session.flush()
    assert ah.health_of(session, [article.id], now=later)[article.id].flags == ("voted_down",)


def test_window_decides_when_a_deflection_is_credited(session, make_article, requester):
    article = fresh(make_article, session)
    intake(session, article, user=requester, at=NOW - timedelta(days=5))
    assert ah.health_of(session, [article.id], now=NOW)[article.id].deflections == 0
    short = ah.Thresholds(deflection_window_days=3)
    assert ah.health_of(session, [article.id], now=NOW, limits=short)[article.id].deflections == 1


def test_only_the_requested_articles(session, make_article):
    a, b = fresh(make_article, session), fresh(make_article, session)
    assert set(ah.health_of(session, [b.id], now=NOW)) == {b.id}
    assert ah.health_of(session, [], now=NOW) == {}
    assert {a.id, b.id} <= set(ah.health_of(session, now=NOW))


# --------------------------------------------------------------------- flags
@pytest.mark.parametrize("age_days,reviewed,expected", [
    (179, True, False), (181, True, True),       # reviewed_at around the 180-day edge
    (181, False, True), (179, False, False),      # never reviewed: published_at counts
])
def test_stale_edges(session, make_article, age_days, reviewed, expected):
    article = make_article()
    when = NOW - timedelta(days=age_days)
    article.published_at = when
    article.reviewed_at = when if reviewed else None
    session.flush()
    assert ("stale" in ah.health_of(session, [article.id], now=NOW)[article.id].flags) is expected


def test_stale_exactly_at_the_limit_is_not_stale_and_one_second_more_is(session, make_article):
    at, past = make_article(), make_article()
    at.reviewed_at = NOW - timedelta(days=180)
    past.reviewed_at = NOW - timedelta(days=180, seconds=1)
    session.flush()
    health = ah.health_of(session, [at.id, past.id], now=NOW)
    assert health[at.id].flags == () and health[past.id].flags == ("stale",)


def test_stale_days_are_configurable_and_a_recent_review_beats_an_old_publication(session, make_article):
    article = make_article()
    article.published_at = NOW - timedelta(days=400)
    article.reviewed_at = NOW - timedelta(days=40)
    session.flush()
    assert ah.health_of(session, [article.id], now=NOW)[article.id].flags == ()
    short = ah.Thresholds(stale_days=30)
    assert ah.health_of(session, [article.id], now=NOW, limits=short)[article.id].flags == ("stale",)


@pytest.mark.parametrize("helpful,unhelpful,expected", [
    (0, 4, False),   # too few votes to judge
    (2, 3, True),    # 5 votes, 60 %
    (3, 2, False),   # 5 votes, 40 %
    (3, 3, True),    # exactly half
    (4, 3, False),   # 43 %
])
def test_voted_down_edges(session, make_article, helpful, unhelpful, expected):
    article = fresh(make_article, session)
    vote(session, article, helpful, unhelpful)
    assert ("voted_down" in ah.health_of(session, [article.id], now=NOW)[article.id].flags) is expected


@pytest.mark.parametrize("resolved,reopened,expected", [
    (1, 1, False),   # one case is noise
    (2, 1, True),    # 50 %
    (4, 1, True),    # exactly 25 %
    (5, 1, False),   # 20 %
    (3, 0, False),
])
def test_reopened_edges(session, make_article, requester, resolved, reopened, expected):
    article = fresh(make_article, session)
    resolved_tickets(session, requester, article, resolved, reopened)
    assert ("reopened" in ah.health_of(session, [article.id], now=NOW)[article.id].flags) is expected


@pytest.mark.parametrize("status", ["draft", "in_review", "archived"])
def test_only_published_articles_are_flagged(session, make_article, requester, status):
    article = make_article(status=status)
    article.reviewed_at = NOW - timedelta(days=999)
    vote(session, article, 0, 6)
    resolved_tickets(session, requester, article, 2, 2)
    h = ah.health_of(session, [article.id], now=NOW)[article.id]
    assert h.flags == () and h.unhelpful == 6 and h.reopened_tickets == 2


def test_publishing_counts_as_a_review(session, make_article, make_user):
    article = make_article(status="in_review")
    transition_article(session, make_user("lead"), article, "published")
    assert article.reviewed_at is not None and article.reviewed_at == article.published_at


# --------------------------------------------------------- needs attention
@pytest.fixture
def flagged(session, make_article, requester):
    """Articles with different severities (and views to break ties)."""
    def make(title, *, stale=False, down=False, reopen=False, views=0):
        article = fresh(make_article, session, title=title)
        article.view_count = views
        if stale:
            article.reviewed_at = NOW - timedelta(days=365)
        if down:
            vote(session, article, 0, 5)
        if reopen:
            resolved_tickets(session, requester, article, 2, 2)
        session.flush()
        return article
    return {
        "stale": make("Stale only", stale=True, views=50),
        "stale_busy": make("Stale and read a lot", stale=True, views=500),
        "down": make("Voted down", down=True),
        "down_stale": make("Voted down and stale", down=True, stale=True),
        "reopen": make("Reopened tickets", reopen=True),
        "fine": make("Fine", views=1000),
    }


def test_needs_attention_sorts_by_severity_then_reach(session, make_user, flagged):
    page = ah.needs_attention(session, make_user("lead"), now=NOW)
    order = [h.article_id for h in page.items]
    expected = ["reopen", "down_stale", "down", "stale_busy", "stale"]
    assert order == [flagged[k].id for k in expected]
    assert page.total == 5 and flagged["fine"].id not in order
    assert [h.severity for h in page.items] == [4, 3, 2, 1, 1]


def test_needs_attention_pages_and_filters(session, make_user, flagged):
    lead = make_user("lead")
    first = ah.needs_attention(session, lead, 1, 2, now=NOW)
    second = ah.needs_attention(session, lead, 2, 2, now=NOW)
    third = ah.needs_attention(session, lead, 3, 2, now=NOW)
    assert (first.pages, first.has_next, third.has_next) == (3, True, False)
    ids = [h.article_id for p in (first, second, third) for h in p.items]
    assert len(ids) == len(set(ids)) == 5
    stale = ah.needs_attention(session, lead, now=NOW, flag="stale")
    assert [h.article_id for h in stale.items] == [flagged[k].id for k in ("down_stale", "stale_busy", "stale")]
    assert ah.needs_attention(session, lead, now=NOW, stale_days=400).total == 3  # nothing stale any more


def test_needs_attention_rejects_an_unknown_flag(session, make_user):
    from kb.errors import ValidationError
    with pytest.raises(ValidationError):
        ah.needs_attention(session, make_user("lead"), now=NOW, flag="ugly")


@pytest.mark.parametrize("role,allowed", [("requester", False), ("agent", False), ("trainer", False),
                                          ("lead", True), ("admin", True)])
def test_needs_attention_is_for_leads_and_admins(session, make_user, role, allowed):
    user = make_user(role)
    if allowed:
        assert ah.needs_attention(session, user, now=NOW).total == 0
    else:
        with pytest.raises(PermissionDenied):
            ah.needs_attention(session, user, now=NOW)
    with pytest.raises(PermissionDenied):
        ah.needs_attention(session, None, now=NOW)


def test_mark_reviewed_clears_stale_without_touching_the_content_date(session, make_article, make_user):
    article = make_article()
    article.reviewed_at = NOW - timedelta(days=365)
    session.flush()
    updated = article.updated_at
    with pytest.raises(PermissionDenied):
        ah.mark_reviewed(session, make_user("agent"), article)
    ah.mark_reviewed(session, make_user("lead"), article, now=NOW)
    assert article.reviewed_at == NOW and article.updated_at == updated
    assert ah.health_of(session, [article.id], now=NOW)[article.id].flags == ()
    with pytest.raises(InvalidTransition):
        ah.mark_reviewed(session, make_user("lead"), make_article(status="draft"))


# -------------------------------------------------------------- query count
def _count_statements(session, fn):
    statements = []
    def listener(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):  # not the BEGIN of a new transaction
            statements.append(statement)
    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def test_query_count_does_not_grow_with_the_number_of_articles(session, make_article, make_user, requester):
    lead = make_user("lead")

    def add(n):
        for _ in range(n):
            article = fresh(make_article, session)
            article.reviewed_at = NOW - timedelta(days=365)
            vote(session, article, 1, 1)
            ticket_with(session, requester, article, events=[("resolved", NOW - timedelta(days=5))])
            intake(session, article, user=requester)
        session.commit()

    add(3)
    assert lead.role == "lead"  # load the (expired) actor now: only the aggregation is measured
    small = _count_statements(session, lambda: ah.health_of(session, now=NOW))
    small_page = _count_statements(session, lambda: ah.needs_attention(session, lead, now=NOW))
    add(27)
    assert len(ah.health_of(session, now=NOW)) == 30 and lead.role == "lead"
    assert _count_statements(session, lambda: ah.health_of(session, now=NOW)) == small == 1
    assert _count_statements(session, lambda: ah.needs_attention(session, lead, now=NOW)) == small_page == 2

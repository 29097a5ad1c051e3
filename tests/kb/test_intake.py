"""Intake recording (queries, impressions, opens, outcomes), the sweep, the "same problem"
rule and the deflection report."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb import deflection, intake
from kb.errors import InvalidTransition, NotFound, ValidationError
from kb.intake_models import ABANDONED, DEFLECTED, IntakeSession
from search import HashEmbedder

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def articles(make_article):
    return [make_article(title=f"Article {i}", body=f"Body {i}") for i in range(3)]


def test_tokens_are_unguessable_and_validated():
    tokens = {intake.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 40 and intake.valid_token(t) for t in tokens)
    for bad in ("", None, "short", "x" * 65, "a b" * 10, "<script>alert(1)</script>xx"):
        assert not intake.valid_token(bad)


def test_first_query_creates_the_session_with_ranked_impressions(session, articles):
    token = intake.new_token()
    assert intake.get_intake(session, token) is None
    a, b, c = articles
    row = intake.record_query(session, None, token, "vpn will not connect", [b.id, a.id, b.id, c.id], now=T0)
    assert row.started_at == T0 and row.last_activity_at == T0 and row.outcome is None and row.user_id is None
    [q] = row.queries
    assert (q.seq, q.text) == (1, "vpn will not connect")
    assert [(i.article_id, i.rank) for i in q.impressions] == [(b.id, 1), (a.id, 2), (c.id, 3)]


def test_consecutive_duplicates_are_stored_once(session, articles):
    token = intake.new_token()
    ids = [articles[0].id]
    for n, text in enumerate(["vpn", "vpn", "vpn broken", "vpn broken", "vpn"]):
        intake.record_query(session, None, token, text, ids, now=T0 + timedelta(seconds=n))
    row = intake.get_intake(session, token)
    assert [q.text for q in row.queries] == ["vpn", "vpn broken", "vpn"]
    assert [q.seq for q in row.queries] == [1, 2, 3]
    assert row.last_activity_at == T0 + timedelta(seconds=4)


def test_empty_text_creates_nothing(session):
    token = intake.new_token()
    assert intake.record_query(session, None, token, "   ", []) is None
    assert session.scalar(select(func.count(IntakeSession.id))) == 0
    with pytest.raises(ValidationError):
        intake.record_query(session, None, "not a token", "vpn", [])


def test_a_users_session_is_theirs_alone(session, make_user, articles):
    alice, bob = make_user(), make_user()
    token = intake.new_token()
    intake.record_query(session, alice, token, "printer jam", [articles[0].id])
    for someone in (bob, None):
        with pytest.raises(NotFound):
            intake.record_query(session, someone, token, "something else", [])
        with pytest.raises(NotFound):
            intake.mark_deflected(session, someone, token, articles[0].id)
        with pytest.raises(NotFound):
            intake.record_open(session, someone, token, articles[0].id)
    assert [q.text for q in intake.get_intake(session, token).queries] == ["printer jam"]


def test_anonymous_session_is_claimed_when_the_visitor_logs_in(session, make_user, articles):
    alice = make_user()
    token = intake.new_token()
    intake.record_query(session, None, token, "printer", [articles[0].id])
    intake.record_query(session, alice, token, "printer jam", [articles[0].id])
    assert intake.get_intake(session, token).user_id == alice.id


def test_open_records_the_query_and_rank_it_was_shown_at(session, articles):
    a, b, c = articles
    token = intake.new_token()
    intake.record_query(session, None, token, "first", [a.id, b.id])
    intake.record_query(session, None, token, "second", [c.id, b.id])
    opened = intake.record_open(session, None, token, b.id, now=T0)
    row = intake.get_intake(session, token)
    assert (opened.article_id, opened.rank, opened.query_id, opened.opened_at) == (b.id, 2, row.queries[1].id, T0)
    assert intake.record_open(session, None, token, a.id).rank == 1  # shown only by the first query
    with pytest.raises(NotFound):
        intake.record_open(session, None, intake.new_token(), a.id)  # no such session


def test_deflection_needs_a_suggested_article_and_ends_the_session(session, articles):
    a, b, c = articles
    token = intake.new_token()
    intake.record_query(session, None, token, "vpn", [a.id, b.id])
    with pytest.raises(NotFound):
        intake.mark_deflected(session, None, token, c.id)
    row = intake.mark_deflected(session, None, token, b.id, now=T0)
    assert (row.outcome, row.outcome_at, row.deflected_article_id) == (DEFLECTED, T0, b.id)
    assert intake.mark_deflected(session, None, token, b.id) is row  # double click
    with pytest.raises(InvalidTransition):
        intake.mark_deflected(session, None, token, a.id)
    assert intake.record_query(session, None, token, "typing after the end", [a.id]) is None
    assert [q.text for q in row.queries] == ["vpn"]


def test_sweep_marks_idle_sessions_abandoned(session, articles):
    idle, busy, done = intake.new_token(), intake.new_token(), intake.new_token()
    intake.record_query(session, None, idle, "idle", [articles[0].id], now=T0)
    intake.record_query(session, None, busy, "busy", [articles[0].id], now=T0 + timedelta(minutes=5))
    intake.record_query(session, None, done, "done", [articles[0].id], now=T0)
    intake.mark_deflected(session, None, done, articles[0].id, now=T0)

    assert intake.sweep_abandoned(session, now=T0 + timedelta(minutes=29)) == 0
    assert intake.sweep_abandoned(session, now=T0 + timedelta(minutes=31)) == 1
    row = intake.get_intake(session, idle)
    assert (row.outcome, row.outcome_at) == (ABANDONED, T0 + timedelta(minutes=30))
    assert intake.get_intake(session, busy).outcome is None
    assert intake.get_intake(session, done).outcome == DEFLECTED
    assert intake.sweep_abandoned(session, now=T0 + timedelta(minutes=31)) == 0  # safe to run twice

    # coming back reopens it: it was not abandoned after all
    intake.record_query(session, None, idle, "idle again", [articles[0].id], now=T0 + timedelta(hours=1))
    assert (row.outcome, row.outcome_at) == (None, None)


def test_sweep_uses_the_clock_by_default(session, articles, time_machine):
    time_machine.move_to(T0, tick=False)
    token = intake.new_token()
    intake.record_query(session, None, token, "vpn", [articles[0].id])
    time_machine.move_to(T0 + timedelta(minutes=45), tick=False)
    assert intake.sweep_abandoned(session) == 1


# ------------------------------------------------------------------ the "same problem" rule
def test_same_problem_by_text_similarity():
    emb = HashEmbedder()
    same, score = deflection.same_problem(emb, "vpn cannot connect from home",
                                          "VPN cannot connect\nWhen I work from home the VPN client says failed")
    assert same and score >= deflection.SAME_PROBLEM_THRESHOLD
    different, score = deflection.same_problem(emb, "vpn cannot connect from home",
                                               "Printer on the third floor has a paper jam")
    assert not different and score < 0.3
    assert deflection.same_problem(emb, "", "anything") == (False, 0.0)


def test_same_problem_by_the_deflecting_article_among_top_suggestions():
    ticket = "intranet unreachable, vpn error 809"
    ranked = {ticket: [7, 3, 9, 12], "outlook freezes": [9]}
    matcher = deflection.ProblemMatcher(HashEmbedder(), suggest=lambda text: ranked.get(text, []))
    rule, score = matcher.match("cannot reach the intranet from home", 9, ticket)
    assert rule == "same_article" and deflection.ARTICLE_RULE_FLOOR <= score < deflection.SAME_PROBLEM_THRESHOLD
    assert matcher.match("cannot reach the intranet from home", 12, ticket)[0] is None  # rank 4: not top 3
    # search always ranks something first: unrelated text never counts, whatever the ranking
    assert matcher.match("mail app hangs", 9, "outlook freezes")[0] is None
    assert matcher.match("paper jam printer", 1, "printer jam")[0] == "similar_text"


def test_threshold_separates_real_model_paraphrases_from_neighbours():
    """The calibration in kb/deflection.py's docstring, on the real all-MiniLM-L6-v2."""
    from search import load_embedder

    emb = load_embedder(None)
    same = [("my vpn cannot connect from home", "VPN not connecting when working remotely, error 809"),
            ("forgot my password", "I need to reset my password, locked out"),
            ("outlook won't start", "Outlook crashes on launch after update")]
    different = [("outlook won't start", "mailbox full cannot send email"),
                 ("printer paper jam", "cannot add network printer"),
                 ("my vpn cannot connect from home", "printer paper jam on floor 3")]
    assert all(deflection.same_problem(emb, a, b)[0] for a, b in same)
    assert not any(deflection.same_problem(emb, a, b)[0] for a, b in different)


def test_deflection_text_is_the_query_that_showed_the_article(session, articles):
    a, b, _ = articles
    token = intake.new_token()
    intake.record_query(session, None, token, "vpn", [a.id])
    intake.record_query(session, None, token, "vpn drops every hour", [b.id, a.id])
    intake.record_query(session, None, token, "vpn drops every hour on wifi", [b.id])
    row = intake.mark_deflected(session, None, token, a.id)
    assert deflection.deflection_text(session, row) == "vpn drops every hour"


# ------------------------------------------------------------------ the report
def test_deflection_stats_are_honest(session, make_user, articles):
    from kb.tickets import create_ticket

    alice, bob, carol = make_user(), make_user(), make_user()
    art = articles[0].id
    matcher = deflection.ProblemMatcher(HashEmbedder())

    def deflected(actor, text, when):
        token = intake.new_token()
        intake.record_query(session, actor, token, text, [art], now=when)
        return intake.mark_deflected(session, actor, token, art, now=when)

    deflected(alice, "vpn cannot connect from home", T0)                          # confirmed
    deflected(bob, "printer paper jam on floor three", T0 + timedelta(days=6))    # pending at T0+8d
    deflected(carol, "outlook will not start", T0 + timedelta(days=1))            # failed below
    deflected(None, "wifi keeps dropping", T0)                                    # unverifiable
    ticket_token, idle_token = intake.new_token(), intake.new_token()
    intake.record_query(session, alice, ticket_token, "new laptop request", [art], now=T0)
    intake.record_query(session, None, idle_token, "hello", [art], now=T0)
    intake.sweep_abandoned(session, now=T0 + timedelta(hours=1))
    create_ticket(session, alice, title="New laptop", description="Please order one",
                  intake=intake.get_intake(session, ticket_token), matcher=matcher, now=T0 + timedelta(hours=2))
    create_ticket(session, carol, title="Outlook will not start", description="Outlook will not start at all",
                  matcher=matcher, now=T0 + timedelta(days=2))
    intake.record_query(session, None, intake.new_token(), "too late", [art], now=T0 + timedelta(days=20))

    stats = deflection.deflection_stats(session, T0 - timedelta(days=1), T0 + timedelta(days=10),
                                        window_days=7, now=T0 + timedelta(days=8))
    assert (stats.sessions, stats.deflected, stats.confirmed, stats.pending, stats.failed, stats.unverifiable,
            stats.ticket_sessions, stats.abandoned, stats.open, stats.tickets) == (6, 4, 1, 1, 1, 1, 1, 1, 0, 2)
    assert stats.honest_rate == pytest.approx(1 / 5) and stats.claimed_rate == pytest.approx(4 / 5)
    assert stats.as_dict()["honest_rate"] == stats.honest_rate
    empty = deflection.deflection_stats(session, T0 + timedelta(days=30), T0 + timedelta(days=31))
    assert empty.sessions == 0 and empty.honest_rate is None


def test_outcome_is_checked_by_the_database(session, articles):
    from sqlalchemy.exc import IntegrityError

    row = intake.record_query(session, None, intake.new_token(), "x", [articles[0].id])
    row.outcome, row.outcome_at = "solved-ish", T0
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()

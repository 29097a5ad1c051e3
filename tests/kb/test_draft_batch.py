"""Batch from history: recurring problems among recently closed, uncovered tickets, one
proposal per cluster, ranked by people affected; and the CLI command."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from kb import draft_batch, ticket_work as work
from kb.channel_models import TicketFollower
from kb.db import utcnow
from kb.errors import PermissionDenied, ValidationError
from kb.loop_models import ArticleSource
from kb.taxonomy import get_category
from kb.tickets import create_ticket
from portal.search_ext import engine, holder

CAMERA = "Teams camera shows a black screen in meetings after the Windows update"
BADGE = "The door badge reader rejects my access card at the north entrance"


@pytest.fixture
def people(make_user):
    return {"agent": make_user("agent"), "lead": make_user("lead"), "trainer": make_user("trainer"),
            **{f"r{i}": make_user() for i in range(5)}}


def _closed(session, people, requester, title, *, days_ago=3, close=True):
    now = utcnow() - timedelta(days=days_ago)
    t = create_ticket(session, people[requester], title=title, description=title + ".", now=now,
                      category_id=get_category(session, "hardware").id, embedder=holder().embedder())
    agent = people["agent"]
    work.acknowledge(session, agent, t, planned_actions="Look", expected_completion_at=now + timedelta(days=1),
                     now=now + timedelta(minutes=5))
    work.reply(session, agent, t, "Please reinstall the camera driver from Device Manager and restart.",
               now=now + timedelta(minutes=10))
    work.resolve(session, agent, t, "Reinstalled the camera driver.", now=now + timedelta(minutes=20))
    if close:
        work.confirm(session, people[requester], t, now=now + timedelta(minutes=30))
    session.commit()
    return t


@pytest.fixture
def history(session, people):
    camera = [_closed(session, people, "r0", CAMERA), _closed(session, people, "r1", CAMERA + " today"),
              _closed(session, people, "r0", "My " + CAMERA)]
    badge = [_closed(session, people, "r2", BADGE), _closed(session, people, "r3", BADGE + " again")]
    single = _closed(session, people, "r4", "Excel macro fails with runtime error 1004 in the budget workbook")
    old = _closed(session, people, "r4", CAMERA, days_ago=45)
    open_one = _closed(session, people, "r4", CAMERA, close=False)
    session.add(TicketFollower(ticket_id=camera[0].id, user_id=people["r4"].id))
    session.commit()
    return {"camera": camera, "badge": badge, "single": single, "old": old, "open": open_one}


def _problems(session, people, **kw):
    return draft_batch.recurring_problems(session, people["lead"], embedder=holder().embedder(),
                                          since=timedelta(days=30), **kw)


def test_clusters_are_recurring_problems_ranked_by_people_affected(session, people, history):
    result = _problems(session, people)
    assert result.candidates == 6  # the old one and the one only resolved are not candidates
    assert [sorted(c.ticket_ids) for c in result.clusters] == [
        sorted(t.id for t in history["camera"]), sorted(t.id for t in history["badge"])]
    camera, badge = result.clusters
    assert camera.people == 3 and badge.people == 2  # r0, r1 and the follower r4; r2, r3
    assert camera.draft_title in (CAMERA, CAMERA + " today", "My " + CAMERA)


def test_covered_tickets_are_left_out(session, people, history, make_article):
    article = make_article(title="Anything")
    session.add(ArticleSource(article_id=article.id, ticket_id=history["badge"][0].id))
    work.link_article(session, people["agent"], history["badge"][1], article.id)
    session.commit()
    result = _problems(session, people)
    assert [sorted(c.ticket_ids) for c in result.clusters] == [sorted(t.id for t in history["camera"])]


def test_proposing_a_cluster_drafts_one_article_citing_every_ticket(session, people, history):
    cluster = _problems(session, people).clusters[0]
    kind, article = draft_batch.propose(session, people["lead"], cluster.tickets, engine=engine(),
                                        embedder=holder().embedder())
    session.commit()
    assert kind == "draft" and article.status == "draft"
    assert all(t.reference in article.body for t in cluster.tickets)
    sources = set(session.scalars(select(ArticleSource.ticket_id).where(ArticleSource.article_id == article.id)))
    assert sources == set(cluster.ticket_ids)
    # afterwards those tickets are covered: only the badge problem is left
    assert [sorted(c.ticket_ids) for c in _problems(session, people).clusters] == [
        sorted(t.id for t in history["badge"])]


def test_a_cluster_an_article_covers_becomes_a_suggested_update(session, people, history, make_article, index_now):
    make_article(title=BADGE, body=f"## Problem\n\n{BADGE}.\n\n## Resolution\n\n1. Ask security to re-enrol the card.",
                 category="hardware")
    index_now()
    result = _problems(session, people, engine=engine())
    badge = next(c for c in result.clusters if history["badge"][0].id in c.ticket_ids)
    assert badge.cover is not None and badge.cover.article.title == BADGE
    kind, suggestion = draft_batch.propose(session, people["lead"], badge.tickets, engine=engine(),
                                           embedder=holder().embedder())
    assert kind == "update" and suggestion.article_id == badge.cover.article.id
    kind, article = draft_batch.propose(session, people["lead"], badge.tickets, engine=engine(),
                                        embedder=holder().embedder(), new_article=True)
    assert kind == "draft"


def test_min_tickets_and_rights(session, people, history):
    assert [len(c.tickets) for c in _problems(session, people, min_tickets=3).clusters] == [3]
    with pytest.raises(PermissionDenied):
        draft_batch.recurring_problems(session, people["trainer"], embedder=holder().embedder(),
                                       since=timedelta(days=30))


def test_nothing_to_cluster(session, people):
    result = _problems(session, people)
    assert result.clusters == [] and result.candidates == 0


@pytest.mark.parametrize("text, days", [("30d", 30), ("2w", 14), ("7", 7), (" 48h ", 2)])
def test_parse_since(text, days):
    assert draft_batch.parse_since(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "abc", "0d", "-3d", "30x", "9999d"])
def test_parse_since_refuses_nonsense(text):
    if text == "":
        assert draft_batch.parse_since(text) == timedelta(days=30)  # the default
        return
    with pytest.raises(ValidationError):
        draft_batch.parse_since(text)


def test_cluster_vectors_average_link():
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([0.9, 0.1, 0.0])
    c = np.array([0.0, 0.0, 1.0])
    vecs = np.stack([v / np.linalg.norm(v) for v in (a, b, c)])
    assert sorted(map(sorted, draft_batch.cluster_vectors(vecs, 0.5))) == [[0, 1], [2]]
    assert draft_batch.cluster_vectors(vecs[:1]) == [[0]] and draft_batch.cluster_vectors(vecs[:0]) == []


def test_the_cli_lists_and_drafts(app, session, people, history):
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["kb", "draft-from-tickets", "--since", "30d", "--dry-run",
                              "--as", people["lead"].email])
    assert dry.exit_code == 0, dry.output
    assert "6 closed tickets since 30d have no article; 2 recurring problems" in dry.output
    assert "1. " in dry.output and "3 people, 3 tickets" in dry.output and "->" not in dry.output
    run = runner.invoke(args=["kb", "draft-from-tickets", "--since", "30d"])  # as the first lead or admin
    assert run.exit_code == 0, run.output
    assert run.output.count("-> draft article") == 2
    again = runner.invoke(args=["kb", "draft-from-tickets"])
    assert "0 recurring problems" in again.output  # everything is covered now
    bad = runner.invoke(args=["kb", "draft-from-tickets", "--since", "forever"])
    assert bad.exit_code != 0 and "e.g. 30d" in bad.output
    nobody = runner.invoke(args=["kb", "draft-from-tickets", "--as", "nobody@example.test"])
    assert nobody.exit_code != 0 and "No user" in nobody.output
    requester = runner.invoke(args=["kb", "draft-from-tickets", "--as", people["r0"].email])
    assert requester.exit_code != 0 and "may not write articles" in requester.output


def test_cluster_vectors_keeps_a_zero_vector_apart():
    """An all-zero vector (the hash embedder gives one for a text of stop words) has no
    direction: it is at distance 1 from everything, alone, and nothing raises."""
    vecs = np.array([[1.0, 0.0], [0.0, 0.0], [0.99, 0.14], [0.0, 0.0]], dtype=np.float32)
    groups = sorted(map(sorted, draft_batch.cluster_vectors(vecs, 0.5)))
    assert [0, 2] in groups and [1] in groups and [3] in groups

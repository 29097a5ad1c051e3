"""Dedup before creating: an article that covers the problem gets an "update article X"
suggestion (addition, diff, apply, dismiss) instead of a second article."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kb import articles, draft_dedup, drafting, ticket_work as work
from kb.articles_models import Article
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.loop_models import ArticleSuggestion
from kb.taxonomy import get_category
from kb.tickets import create_ticket
from portal.search_ext import engine, holder

PROBLEM = "Outlook keeps asking for my password again and again since this morning"
BODY = ("## Problem\n\nOutlook keeps asking for my password again and again since this morning.\n\n"
        "## Resolution\n\n1. Close Outlook.\n2. Remove the saved Office credentials in Credential Manager.\n\n"
        "## If that did not help\n\nCall the service desk.\n")
MARKER = "QZX-note-41"


@pytest.fixture
def people(make_user):
    return {"alice": make_user(name="Alice Smith", email="alice.smith@contoso.example"),
            "agent": make_user("agent", name="Mark Jones"), "lead": make_user("lead", name="Lena Ortiz"),
            "requester": make_user()}


def _resolved(session, people, *, title="Outlook keeps asking for my password", description=PROBLEM):
    t = create_ticket(session, people["alice"], title=title, description=description + ". Call me on 07700 900123.",
                      category_id=get_category(session, "software").id,
                      subcategory_id=get_category(session, "email-calendar").id)
    agent = people["agent"]
    work.acknowledge(session, agent, t, planned_actions="Check the profile",
                     expected_completion_at=utcnow() + timedelta(days=1))
    work.reply(session, agent, t, f"Token cache was corrupt, see {MARKER}.", internal=True)
    work.reply(session, agent, t, "Please sign out of Office and remove the cached credentials in Credential Manager.")
    work.resolve(session, agent, t, "Removed the stale Office credentials for Alice Smith; Outlook signs in again.")
    session.commit()
    return t


@pytest.fixture
def covered(session, people, make_article, index_now):
    article = make_article(title="Outlook keeps asking for your password", body=BODY, category="software",
                           subcategory="email-calendar")
    make_article(title="Printer shows paper jam", body="Open tray 2 and pull the sheet out.", category="hardware")
    index_now()
    return article


def _propose(session, people, tickets, **kw):
    suggestion = draft_dedup.propose_update(session, people["agent"], tickets, engine=engine(),
                                            embedder=holder().embedder(), **kw)
    session.commit()
    return suggestion


def test_a_covered_problem_proposes_an_update_with_the_new_resolution(session, people, covered):
    ticket = _resolved(session, people)
    suggestion = _propose(session, people, [ticket])
    assert suggestion is not None and suggestion.article_id == covered.id and suggestion.status == "open"
    assert suggestion.similarity >= draft_dedup.COVER_THRESHOLD * 1000
    assert ticket.reference in suggestion.addition and "Credential Manager" in suggestion.addition
    assert "Alice" not in suggestion.addition and "07700" not in suggestion.addition  # de-personalised
    assert MARKER not in suggestion.addition  # internal notes are not read
    assert draft_dedup.suggestion_ticket_ids(session, suggestion) == [ticket.id]
    # no second article was written
    assert session.scalar(select(func.count(Article.id))) == 2
    # drafting the same ticket again proposes the same update once
    assert _propose(session, people, [ticket]).id == suggestion.id


def test_the_addition_goes_at_the_end_of_the_resolution_and_the_diff_shows_it(session, people, covered):
    suggestion = _propose(session, people, [_resolved(session, people)])
    body = draft_dedup.proposed_body(covered.body, suggestion.addition)
    assert body.index("Credential Manager.") < body.index("### Also resolved in") < body.index("## If that did not")
    diff = draft_dedup.diff_of(session, suggestion)
    added = [line.text for h in diff.hunks for line in h.lines if line.kind == "add"]
    assert any("Also resolved in" in text for text in added) and diff.removed == 0
    assert draft_dedup.proposed_body("No sections here.", "ADD") == "No sections here.\n\nADD\n"
    drafted = "## Resolution\n\n1. Fix\n\nSources: HD-2026-000001\n"  # a drafted article's last line stays last
    assert draft_dedup.proposed_body(drafted, "ADD") == "## Resolution\n\n1. Fix\n\nADD\n\nSources: HD-2026-000001\n"
    assert "处理步骤" in draft_dedup.proposed_body("## 处理步骤\n\n1. 重启\n\n## 其他\n\n无", "ADD").split("ADD")[0]


def test_an_uncovered_problem_proposes_nothing(session, people, covered):
    ticket = _resolved(session, people, title="Badge reader at the north door rejects my card",
                       description="The badge reader at the north entrance beeps red when I tap my card")
    assert _propose(session, people, [ticket]) is None


def test_a_draft_with_internal_notes_is_only_proposed_to_internal_articles(session, people, covered, make_article,
                                                                             index_now):
    ticket = _resolved(session, people)
    assert _propose(session, people, [ticket], include_internal=True) is None  # the covering one is public
    internal = make_article(title="Outlook keeps asking for your password (desk notes)", body=BODY,
                            category="software", audience="internal")
    index_now()
    suggestion = _propose(session, people, [ticket], include_internal=True)
    assert suggestion.article_id == internal.id


def test_applying_saves_a_revision_and_keeps_the_status(session, people, covered):
    suggestion = _propose(session, people, [_resolved(session, people)])
    before = articles.current_revision_number(covered)
    draft_dedup.apply_suggestion(session, people["agent"], suggestion)
    session.commit()
    assert covered.status == "published" and "### Also resolved in" in covered.body
    assert articles.current_revision_number(covered) == before + 1 == suggestion.revision_number
    assert suggestion.status == "applied" and suggestion.decided_at is not None
    assert covered.revisions[-1].note.startswith("Update from HD-")
    with pytest.raises(InvalidTransition):
        draft_dedup.apply_suggestion(session, people["agent"], suggestion)


def test_applying_refuses_personal_data_in_what_it_adds(session, people, covered):
    suggestion = _propose(session, people, [_resolved(session, people)])
    edited = draft_dedup.proposed_body(covered.body, suggestion.addition) + "\nAsk Alice Smith on 07700 900123.\n"
    with pytest.raises(ValidationError, match="personal data") as exc:
        draft_dedup.apply_suggestion(session, people["agent"], suggestion, body=edited)
    assert "name" in str(exc.value)
    session.rollback()
    assert suggestion.status == "open" and "Also resolved" not in covered.body


def test_applying_checks_the_base_revision(session, people, covered):
    suggestion = _propose(session, people, [_resolved(session, people)])
    with pytest.raises(InvalidTransition, match="Someone else changed"):
        draft_dedup.apply_suggestion(session, people["agent"], suggestion, base_revision=99)


def test_dismissing_and_who_may_see_a_suggestion(session, people, covered):
    suggestion = _propose(session, people, [_resolved(session, people)])
    with pytest.raises(NotFound):
        draft_dedup.get_suggestion(session, people["requester"], suggestion.id)
    with pytest.raises(NotFound):
        draft_dedup.get_suggestion(session, people["agent"], suggestion.id + 999)
    assert draft_dedup.open_suggestions(session, people["requester"]) == []
    assert draft_dedup.open_suggestions(session, people["lead"], article=covered) == [suggestion]
    with pytest.raises(PermissionDenied):
        draft_dedup.dismiss_suggestion(session, people["requester"], suggestion)
    draft_dedup.dismiss_suggestion(session, people["lead"], suggestion)
    session.commit()
    assert suggestion.status == "dismissed" and draft_dedup.open_suggestions(session, people["lead"]) == []


def test_proposing_checks_the_same_rights_as_drafting(session, people, covered, make_user):
    ticket = _resolved(session, people)
    with pytest.raises((NotFound, PermissionDenied)):
        draft_dedup.propose_update(session, people["requester"], [ticket], engine=engine(),
                                   embedder=holder().embedder())
    assert session.scalar(select(func.count(ArticleSuggestion.id))) == 0


def test_section_reads_one_heading(session):
    body = "## Problem\n\nIt breaks.\n\n## Cause\n\n_Not recorded in the ticket._\n\n## Resolution\n\n1. Fix\n\nSources: HD-1"
    assert draft_dedup.section(body, "problem") == "It breaks."
    assert draft_dedup.section(body, "Resolution") == "1. Fix"
    assert draft_dedup.section(body, "Environment") == ""
    assert drafting.Draft  # the proposal reads the same draft structure

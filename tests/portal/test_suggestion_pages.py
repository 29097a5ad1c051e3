"""The pages of dedup and batch drafting: "Draft article" on a covered ticket leads to the
suggested update (diff, apply, dismiss, new article instead); the leads' recurring problems."""
from __future__ import annotations

import pytest

from kb.loop_models import ArticleSuggestion
from tests.conftest import csrf_token_from
from tests.kb.test_draft_batch import BADGE, CAMERA, _closed
from tests.kb.test_draft_dedup import BODY, _resolved


@pytest.fixture
def people(make_user):
    return {"alice": make_user(name="Alice Smith", email="alice.smith@contoso.example"),
            "agent": make_user("agent", name="Mark Jones"), "lead": make_user("lead", name="Lena Ortiz"),
            "requester": make_user(), **{f"r{i}": make_user() for i in range(4)}}


@pytest.fixture
def covered(make_article, index_now):
    article = make_article(title="Outlook keeps asking for your password", body=BODY, category="software",
                           subcategory="email-calendar")
    index_now()
    return article


def _draft_click(client, ticket, **data):
    return client.post(f"/tickets/{ticket.id}/draft-article", data=data)


def test_drafting_a_covered_ticket_shows_the_suggested_update(client, login, session, people, covered):
    ticket = _resolved(session, people)
    login(people["agent"])
    resp = _draft_click(client, ticket)
    assert resp.status_code == 303 and "/kb/suggestions/" in resp.location
    page = client.get(resp.location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Update “Outlook keeps asking for your password”?" in html
    assert ticket.reference in html and 'class="diff"' in html and "Also resolved in" in html
    assert 'data-testid="suggested-addition"' in html
    # the article page tells staff a suggestion waits
    assert 'data-testid="open-suggestions"' in client.get(f"/kb/{covered.id}").get_data(as_text=True)
    assert "Suggested update" in client.get("/kb/suggestions").get_data(as_text=True)


def test_apply_from_the_page(client, login, session, people, covered):
    login(people["agent"])
    _draft_click(client, _resolved(session, people))
    suggestion = session.query(ArticleSuggestion).one()
    page = client.get(f"/kb/suggestions/{suggestion.id}").get_data(as_text=True)
    assert 'name="base_revision"' in page
    edited = covered.body + "\n### Also resolved\n\nAsk Alice Smith.\n"
    refused = client.post(f"/kb/suggestions/{suggestion.id}/apply", data={"body": edited})
    assert refused.status_code == 400 and "personal data" in refused.get_data(as_text=True)
    applied = client.post(f"/kb/suggestions/{suggestion.id}/apply", data={"body": covered.body + "\n\nFixed text.\n"})
    assert applied.status_code == 303 and applied.location.endswith(f"/kb/{covered.id}")
    session.refresh(covered)
    assert covered.body.rstrip().endswith("Fixed text.") and suggestion.status == "applied"
    again = client.post(f"/kb/suggestions/{suggestion.id}/apply", data={"body": "x" * 20})
    assert again.status_code == 409


def test_dismiss_or_write_a_new_article_instead(client, login, session, people, covered):
    login(people["agent"])
    _draft_click(client, _resolved(session, people))
    first = session.query(ArticleSuggestion).one()
    resp = client.post(f"/kb/suggestions/{first.id}/new-article")
    assert resp.status_code == 303 and "/edit" in resp.location and first.status == "dismissed"
    second_ticket = _resolved(session, people, title="Outlook asks for my password over and over")
    _draft_click(client, second_ticket)
    second = session.query(ArticleSuggestion).filter_by(status="open").one()
    assert client.post(f"/kb/suggestions/{second.id}/dismiss").status_code == 303
    assert second.status == "dismissed"
    # and the explicit choice on the ticket page skips the proposal
    resp = _draft_click(client, second_ticket, **{"draft-new_article": "1"})
    assert resp.status_code == 303 and "/edit" in resp.location


def test_suggestions_are_for_staff_only(client, login, session, people, covered):
    login(people["agent"])
    _draft_click(client, _resolved(session, people))
    suggestion = session.query(ArticleSuggestion).one()
    client.post("/logout")
    login(people["requester"])
    assert client.get(f"/kb/suggestions/{suggestion.id}").status_code == 404
    assert client.post(f"/kb/suggestions/{suggestion.id}/apply", data={"body": "hacked"}).status_code == 404
    assert client.get("/kb/suggestions").status_code == 403
    assert client.get("/kb/suggestions/99999").status_code == 404


def test_suggestion_forms_need_csrf(client, login, session, people, covered, csrf_app):
    login_page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": people["agent"].email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(login_page)})
    ticket = _resolved(session, people)
    assert _draft_click(client, ticket).status_code == 400
    assert session.query(ArticleSuggestion).count() == 0


def test_the_leads_page_of_recurring_problems(client, login, session, people):
    tickets = [_closed(session, people, f"r{i}", CAMERA + (" again" * i)) for i in range(3)]
    [_closed(session, people, f"r{i}", BADGE + (" today" * i)) for i in range(2)]
    login(people["lead"])
    page = client.get("/kb/from-history?since=14d")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="recurring-problems"' in html
    assert html.index(tickets[0].reference) < html.index("door badge reader")  # most people first
    assert "3 people affected" in html and "5 closed tickets without an article" in html
    bad = client.get("/kb/from-history?since=forever")
    assert bad.status_code == 303
    resp = client.post("/kb/from-history/propose", data={"ticket_ids": ",".join(str(t.id) for t in tickets)})
    assert resp.status_code == 303 and "/edit" in resp.location
    assert "2 closed tickets without an article" in client.get("/kb/from-history").get_data(as_text=True)
    assert client.post("/kb/from-history/propose", data={"ticket_ids": "1,x"}).status_code == 400
    assert client.post("/kb/from-history/propose", data={"ticket_ids": "99999"}).status_code == 404
    many = client.post("/kb/from-history/propose", data={"ticket_ids": ",".join(["1"] * 5000)})
    assert many.status_code == 400 and "at most 50 tickets" in many.get_data(as_text=True)


def test_recurring_problems_page_rights_and_empty_state(client, login, people):
    login(people["agent"])
    assert client.get("/kb/from-history").status_code == 403
    client.post("/logout")
    login(people["lead"])
    html = client.get("/kb/from-history").get_data(as_text=True)
    assert "No recurring problems" in html

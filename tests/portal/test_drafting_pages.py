"""The "Draft article" button on a resolved ticket, the editor's personal-data warning, the
"Drafted from" line, and the publish button refusing while personal data remains."""
from __future__ import annotations

import pytest

from kb.articles_models import Article
from kb.loop_models import ArticleSource
from tests.conftest import PASSWORD, csrf_token_from
from tests.kb.test_drafting import MARKER, _ticket


def client_for(app, user):
    c = app.test_client()
    assert c.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return c


@pytest.fixture
def people(make_user):
    return {"alice": make_user(name="Alice Smith", email="alice.smith@contoso.example"),
            "agent": make_user("agent", name="Mark Jones"), "lead": make_user("lead", name="Lena Ortiz"),
            "trainer": make_user("trainer")}


@pytest.fixture
def ticket(session, people):
    return _ticket(session, people)


def test_the_button_shows_for_staff_who_work_a_resolved_ticket(app, session, people, ticket):
    page = client_for(app, people["agent"]).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'data-testid="draft-article"' in page and "Include internal notes (internal article)" in page
    for who in ("alice", "trainer"):
        page = client_for(app, people[who]).get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert 'data-testid="draft-article"' not in page
    open_ticket = _ticket(session, people, resolve=False)
    page = client_for(app, people["agent"]).get(f"/tickets/{open_ticket.id}").get_data(as_text=True)
    assert 'data-testid="draft-article"' not in page


def test_drafting_redirects_to_the_editor_with_a_flash(app, session, people, ticket):
    c = client_for(app, people["agent"])
    resp = c.post(f"/tickets/{ticket.id}/draft-article")
    article = session.query(Article).one()
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/kb/{article.id}/edit")
    page = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Draft article created from" in page and "## Problem" in page
    assert 'data-testid="pii-findings"' not in page  # everything was replaced already
    assert article.audience == "public" and MARKER not in article.body and "Alice" not in article.body
    assert session.query(ArticleSource).one().ticket_id == ticket.id
    # the article page names the source ticket for staff only
    page = c.get(f"/kb/{article.id}").get_data(as_text=True)
    assert 'data-testid="drafted-from"' in page and ticket.reference in page
    assert f'href="/tickets/{ticket.id}"' in page


def test_the_internal_checkbox_makes_an_internal_article(app, session, people, ticket):
    c = client_for(app, people["agent"])
    resp = c.post(f"/tickets/{ticket.id}/draft-article", data={"draft-include_internal": "y"})
    assert resp.status_code == 303
    article = session.query(Article).one()
    assert article.audience == "internal" and MARKER in article.body


def test_refusals(app, session, people, ticket):
    assert client_for(app, people["alice"]).post(f"/tickets/{ticket.id}/draft-article").status_code == 403
    assert client_for(app, people["trainer"]).post(f"/tickets/{ticket.id}/draft-article").status_code == 403
    open_ticket = _ticket(session, people, resolve=False)
    assert client_for(app, people["agent"]).post(f"/tickets/{open_ticket.id}/draft-article").status_code == 409
    assert session.query(Article).count() == 0


def test_csrf_is_required(csrf_app, session, people, ticket):
    c = csrf_app.test_client()
    token = csrf_token_from(c.get("/login").get_data(as_text=True))
    c.post("/login", data={"email": people["agent"].email, "password": PASSWORD, "csrf_token": token})
    assert c.post(f"/tickets/{ticket.id}/draft-article").status_code == 400
    token = csrf_token_from(c.get(f"/tickets/{ticket.id}").get_data(as_text=True))
    assert c.post(f"/tickets/{ticket.id}/draft-article", data={"csrf_token": token}).status_code == 303
    assert session.query(Article).count() == 1


def test_the_editor_highlights_personal_data_and_publishing_is_refused(app, session, people, ticket):
    agent_c, lead_c = client_for(app, people["agent"]), client_for(app, people["lead"])
    agent_c.post(f"/tickets/{ticket.id}/draft-article")
    article = session.query(Article).one()
    form = {"title": article.title, "category": "network", "subcategory": "vpn-remote", "tags": "vpn",
            "audience": "public", "lang": "en", "body": article.body + "\nAsk Lena Ortiz, lena@contoso.example."}
    assert lead_c.post(f"/kb/{article.id}/edit", data=form).status_code == 302
    page = lead_c.get(f"/kb/{article.id}/edit").get_data(as_text=True)
    assert 'data-testid="pii-findings"' in page and "<mark>lena@contoso.example</mark>" in page
    assert "<mark>Lena Ortiz</mark>" in page and "Personal data found: 2 places." in page
    lead_c.post(f"/kb/{article.id}/status", data={"to_status": "in_review"})
    resp = lead_c.post(f"/kb/{article.id}/status", data={"to_status": "published"}, follow_redirects=True)
    assert "Remove the personal data before publishing" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Article, article.id).status == "in_review"
    form["body"] = form["body"].replace("Ask Lena Ortiz, lena@contoso.example.", "Ask the service desk.")
    assert lead_c.post(f"/kb/{article.id}/edit", data=form).status_code == 302
    lead_c.post(f"/kb/{article.id}/status", data={"to_status": "published"})
    session.expire_all()
    assert session.get(Article, article.id).status == "published"
    # a requester reading the published article does not see where it came from
    page = client_for(app, people["alice"]).get(f"/kb/{article.id}").get_data(as_text=True)
    assert 'data-testid="drafted-from"' not in page and f"/tickets/{ticket.id}" not in page

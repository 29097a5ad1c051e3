"""The "needs attention" page (/kb/health), "Mark reviewed", and the health box on an article."""
from __future__ import annotations

from datetime import timedelta

import pytest

from kb.articles_models import Article, ArticleVote
from kb.db import utcnow
from tests.conftest import PASSWORD, csrf_token_from


def stale(session, make_article, title, days=400, views=0):
    article = make_article(title=title)
    article.reviewed_at = utcnow() - timedelta(days=days)
    article.view_count = views
    session.commit()
    return article


def voted_down(session, make_article, title):
    article = make_article(title=title)
    article.reviewed_at = utcnow()
    session.add_all([ArticleVote(article_id=article.id, voter_key=f"anon:{title}{i}", helpful=False) for i in range(5)])
    session.commit()
    return article


def test_lead_sees_flagged_articles_with_reasons_and_figures(client, login, make_user, make_article, session):
    old = stale(session, make_article, "Old printer guide", views=42)
    down = voted_down(session, make_article, "Disliked VPN guide")
    fine = make_article(title="Fresh guide")
    fine.reviewed_at = utcnow()
    session.commit()
    login(make_user("lead"))
    html = client.get("/kb/health").get_data(as_text=True)
    assert "Old printer guide" in html and "Disliked VPN guide" in html and "Fresh guide" not in html
    assert html.index("Disliked VPN guide") < html.index("Old printer guide")  # more severe first
    assert "not reviewed for 400 days" in html and "5 of 5 votes since the last review said not helpful" in html
    assert ">42<" in html  # views
    assert f'action="/kb/{old.id}/reviewed"' in html and f'action="/kb/{down.id}/reviewed"' in html
    assert 'href="/kb/health"' in html  # the navigation link for leads


def test_filter_by_flag_and_pagination(client, login, make_user, make_article, session, monkeypatch):
    monkeypatch.setattr("portal.articles.health.PER_PAGE", 2)
    for i in range(3):
        stale(session, make_article, f"Stale guide {i}", views=i)
    voted_down(session, make_article, "Disliked guide")
    login(make_user("lead"))
    only_down = client.get("/kb/health?flag=voted_down").get_data(as_text=True)
    assert "Disliked guide" in only_down and "Stale guide" not in only_down
    first = client.get("/kb/health?flag=stale").get_data(as_text=True)
    assert "Stale guide 2" in first and "Stale guide 1" in first and "Stale guide 0" not in first
    assert "page=2" in first and "flag=stale" in first and "Page 1 of 2" in first
    second = client.get("/kb/health?flag=stale&page=2").get_data(as_text=True)
    assert "Stale guide 0" in second and "Stale guide 2" not in second
    # an unknown flag shows everything rather than an error
    assert "Disliked guide" in client.get("/kb/health?flag=nonsense").get_data(as_text=True)


def test_empty_state(client, login, make_user):
    login(make_user("admin"))
    resp = client.get("/kb/health")
    assert resp.status_code == 200 and "No article needs attention right now." in resp.get_data(as_text=True)
    assert "No article has this flag right now." in client.get("/kb/health?flag=stale").get_data(as_text=True)


def test_stale_days_come_from_the_config(app, client, login, make_user, make_article, session):
    stale(session, make_article, "Forty days old", days=40)
    login(make_user("lead"))
    assert "Forty days old" not in client.get("/kb/health").get_data(as_text=True)
    app.config["ARTICLE_STALE_DAYS"] = 30
    assert "Forty days old" in client.get("/kb/health").get_data(as_text=True)


@pytest.mark.parametrize("role", ["requester", "agent", "trainer"])
def test_others_may_not_see_the_list_or_mark_reviewed(client, login, make_user, make_article, session, role):
    article = stale(session, make_article, "Old guide")
    before = article.reviewed_at
    login(make_user(role))
    assert client.get("/kb/health").status_code == 403
    assert client.post(f"/kb/{article.id}/reviewed").status_code == 403
    session.expire_all()
    assert session.get(Article, article.id).reviewed_at == before
    assert 'href="/kb/health"' not in client.get("/kb/").get_data(as_text=True)


def test_anonymous_is_sent_to_log_in(client):
    resp = client.get("/kb/health")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_mark_reviewed_needs_csrf_and_takes_the_article_off_the_list(csrf_app, make_user, make_article, session):
    client = csrf_app.test_client()
    article = stale(session, make_article, "Old guide")
    lead = make_user("lead")
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"email": lead.email, "password": PASSWORD,
                                       "csrf_token": csrf_token_from(page)}).status_code == 302
    assert client.post(f"/kb/{article.id}/reviewed").status_code == 400
    html = client.get("/kb/health?flag=stale").get_data(as_text=True)
    resp = client.post(f"/kb/{article.id}/reviewed",
                       data={"csrf_token": csrf_token_from(html), "next": "/kb/health?flag=stale"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/kb/health?flag=stale")
    session.expire_all()
    assert utcnow() - session.get(Article, article.id).reviewed_at < timedelta(minutes=1)
    after = client.get("/kb/health?flag=stale").get_data(as_text=True)
    assert "Marked as reviewed" in after and "No article has this flag right now." in after


def test_mark_reviewed_refuses_a_draft_and_an_outside_next(client, login, make_user, make_article, session):
    draft = make_article(title="Draft guide", status="draft")
    published = stale(session, make_article, "Old guide")
    login(make_user("lead"))
    resp = client.post(f"/kb/{draft.id}/reviewed", data={"next": f"/kb/{draft.id}"}, follow_redirects=True)
    assert "Only published articles are reviewed" in resp.get_data(as_text=True)
    assert session.get(Article, draft.id).reviewed_at is None
    resp = client.post(f"/kb/{published.id}/reviewed", data={"next": "https://evil.example/"})
    assert "evil.example" not in resp.headers["Location"]


def test_health_box_on_the_article_page_is_for_staff(client, login, make_user, make_article, session):
    article = voted_down(session, make_article, "Disliked guide")
    assert "Article health" not in client.get(f"/kb/{article.id}").get_data(as_text=True)
    login(make_user("agent"))
    html = client.get(f"/kb/{article.id}").get_data(as_text=True)
    assert "Article health" in html and "0 helpful / 5 not helpful" in html and "Voted down" in html
    assert "Mark reviewed" not in html
    client.post("/logout")
    login(make_user("lead"))
    html = client.get(f"/kb/{article.id}").get_data(as_text=True)
    assert "Mark reviewed" in html and f'action="/kb/{article.id}/reviewed"' in html

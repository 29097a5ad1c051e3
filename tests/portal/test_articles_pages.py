"""Knowledge-base pages end to end through the test client."""
from __future__ import annotations

from sqlalchemy import func, select

from kb.articles_models import Article, ArticleVote
from tests.conftest import csrf_token_from

FORM = {"title": "Outlook keeps asking for my password", "body": "1. Close Outlook.\n2. Open it again.\n",
        "category": "software", "subcategory": "email-calendar", "tags": "outlook, Password", "audience": "public",
        "lang": "en", "note": "First draft"}


def fresh(session, article_id):
    session.expire_all()
    return session.get(Article, article_id)


def test_browse_lists_categories_counts_and_recent(client, make_article, make_user, login):
    make_article(title="Public VPN guide", category="network", subcategory="vpn-remote")
    make_article(title="Internal VPN runbook", category="network", subcategory="vpn-remote", audience="internal")
    make_article(title="Draft printer note", category="hardware", status="draft")
    page = client.get("/kb/").get_data(as_text=True)
    assert "Network connectivity" in page and "VPN and remote work" in page
    assert "Public VPN guide" in page
    assert "Internal VPN runbook" not in page and "Draft printer note" not in page
    assert 'action="/kb/search"' in page
    login(make_user("agent"))
    assert "Internal VPN runbook" in client.get("/kb/").get_data(as_text=True)


def test_category_page_paginates_and_filters(client, make_article):
    for i in range(23):
        make_article(title=f"Wi-Fi tip {i:02d}", category="network", subcategory="wifi")
    make_article(title="Printer tip", category="hardware")
    first = client.get("/kb/category/network").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Printer tip" not in first
    assert "Wi-Fi tip" in client.get("/kb/category/wifi?page=2").get_data(as_text=True)
    assert client.get("/kb/category/plumbing").status_code == 404


def test_article_page_renders_safe_html_and_counts_views(client, make_article, session):
    article = make_article(title="Reset it", body="## Steps\n\n**Open** the page.\n\n<script>alert(1)</script>\n"
                                                 "[bad](javascript:alert(1))", tags=("password",))
    resp = client.get(f"/kb/{article.id}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<h2>Steps</h2>" in html and "<strong>Open</strong>" in html
    assert "<script>alert(1)</script>" not in html and 'href="javascript' not in html
    assert "Access" in html or "Permissions and access" in html
    assert "password" in html and "Was this helpful?" in html
    assert "/edit" not in html and "/history" not in html  # anonymous: no staff buttons
    client.get(f"/kb/{article.id}")
    assert fresh(session, article.id).view_count == 2


def test_hidden_articles_are_404_for_requesters(client, make_article, make_user, login):
    internal = make_article(title="Internal runbook", audience="internal")
    draft = make_article(title="Draft", status="draft")
    for url in (f"/kb/{internal.id}", f"/kb/{draft.id}", "/kb/999999", f"/kb/{draft.id}/history"):
        assert client.get(url).status_code in (404, 302), url
    assert client.get(f"/kb/{internal.id}").status_code == 404
    assert client.get(f"/kb/{draft.id}").status_code == 404
    login(make_user("requester"))
    assert client.get(f"/kb/{internal.id}").status_code == 404
    assert client.get(f"/kb/{draft.id}").status_code == 404
    assert client.get(f"/kb/{internal.id}/history").status_code == 404
    assert client.post(f"/kb/{draft.id}/vote", data={"helpful": "yes"}).status_code == 404


def test_agents_see_internal_and_drafts_with_staff_buttons(client, make_article, make_user, login):
    internal = make_article(title="Internal runbook", audience="internal")
    draft = make_article(title="Draft", status="draft")
    login(make_user("agent"))
    page = client.get(f"/kb/{internal.id}").get_data(as_text=True)
    assert "Internal runbook" in page and f"/kb/{internal.id}/edit" in page and f"/kb/{internal.id}/history" in page
    assert "Archive" not in page  # agents do not archive
    page = client.get(f"/kb/{draft.id}").get_data(as_text=True)
    assert "Submit for review" in page


def test_create_submit_publish_flow(client, make_user, login, session):
    agent, lead = make_user("agent"), make_user("lead")
    login(agent)
    assert client.get("/kb/new").status_code == 200
    resp = client.post("/kb/new", data=FORM)
    assert resp.status_code == 302
    article = session.scalar(select(Article).where(Article.title == FORM["title"]))
    assert article.status == "draft" and article.tag_names == ["outlook", "password"]
    assert client.post(f"/kb/{article.id}/status", data={"to_status": "in_review"}).status_code == 303
    assert fresh(session, article.id).status == "in_review"
    client.post("/logout")

    login(lead)
    queue = client.get("/kb/review").get_data(as_text=True)
    assert FORM["title"] in queue
    page = client.get(f"/kb/{article.id}").get_data(as_text=True)
    assert "Publish" in page and "Return to author" in page
    assert client.post(f"/kb/{article.id}/status", data={"to_status": "published"}).status_code == 303
    article = fresh(session, article.id)
    assert article.status == "published" and article.published_at is not None
    assert [r.status for r in article.revisions] == ["draft", "in_review", "published"]
    client.post("/logout")
    assert client.get(f"/kb/{article.id}").status_code == 200  # now public


def test_forbidden_transitions_are_refused(client, make_user, make_article, login, session):
    in_review = make_article(title="Waiting", status="in_review")
    draft = make_article(title="Draft", status="draft")
    published = make_article(title="Live")
    assert client.post(f"/kb/{published.id}/status", data={"to_status": "archived"}).status_code == 302  # log in
    login(make_user("agent"))
    assert client.post(f"/kb/{in_review.id}/status", data={"to_status": "published"}).status_code == 403
    assert client.get("/kb/review").status_code == 403
    client.post("/logout")
    login(make_user("lead"))
    assert client.post(f"/kb/{draft.id}/status", data={"to_status": "archived"}).status_code == 409
    assert client.post(f"/kb/{draft.id}/status", data={"to_status": "bogus"}).status_code == 400
    resp = client.post(f"/kb/{in_review.id}/status", data={"to_status": "draft", "note": ""})
    assert resp.status_code == 303 and fresh(session, in_review.id).status == "in_review"  # a return needs a note
    client.post(f"/kb/{in_review.id}/status", data={"to_status": "draft", "note": "Add screenshots"})
    assert fresh(session, in_review.id).status == "draft"
    assert {fresh(session, a.id).status for a in (draft, published)} == {"draft", "published"}


def test_requesters_cannot_write(client, make_user, login):
    assert client.get("/kb/new").status_code == 302
    login(make_user("requester"))
    assert client.get("/kb/new").status_code == 403
    assert client.post("/kb/new", data=FORM).status_code == 403


def test_form_errors_are_shown(client, make_user, login, session):
    login(make_user("agent"))
    resp = client.post("/kb/new", data={**FORM, "subcategory": "wifi"})
    assert resp.status_code == 400 and "is not a subcategory" in resp.get_data(as_text=True)
    resp = client.post("/kb/new", data={**FORM, "title": "ab"})
    assert resp.status_code == 400
    assert session.scalar(select(func.count(Article.id))) == 0


def test_edit_creates_revision_and_diff_shows_it(client, make_user, login, session):
    agent = login(make_user("agent"))
    client.post("/kb/new", data=FORM)
    article = session.scalar(select(Article))
    form = client.get(f"/kb/{article.id}/edit").get_data(as_text=True)
    assert FORM["title"] in form and 'name="base_revision"' in form
    edited = {**FORM, "title": "Outlook asks for a password again and again",
              "body": "1. Close Outlook.\n2. Clear saved credentials.\n", "note": "Better step 2", "base_revision": "1"}
    assert client.post(f"/kb/{article.id}/edit", data=edited).status_code == 302
    article = fresh(session, article.id)
    assert [r.number for r in article.revisions] == [1, 2] and article.revisions[1].author_id == agent.id
    stale = client.post(f"/kb/{article.id}/edit", data={**edited, "title": "Someone else", "base_revision": "1"})
    assert stale.status_code == 409 and "changed this article" in stale.get_data(as_text=True)
    history = client.get(f"/kb/{article.id}/history").get_data(as_text=True)
    assert "Better step 2" in history and "First draft" in history
    diff = client.get(f"/kb/{article.id}/diff?from=1&to=2").get_data(as_text=True)
    assert 'class="del"' in diff and 'class="add"' in diff
    assert "Open it again." in diff and "Clear saved credentials." in diff
    assert client.get(f"/kb/{article.id}/diff?from=1&to=9").status_code == 404


def test_vote_is_counted_once_per_voter(client, app, make_article, make_user, login, session):
    article = make_article()
    for _ in range(2):
        assert client.post(f"/kb/{article.id}/vote", data={"helpful": "yes"}).status_code == 302
    assert session.scalar(select(func.count(ArticleVote.id))) == 1
    client.post(f"/kb/{article.id}/vote", data={"helpful": "no"})  # changing one's mind
    votes = session.scalars(select(ArticleVote)).all()
    assert len(votes) == 1 and votes[0].helpful is False and votes[0].voter_key.startswith("anon:")
    other = app.test_client()
    other.post(f"/kb/{article.id}/vote", data={"helpful": "yes"})
    user = login(make_user())
    client.post(f"/kb/{article.id}/vote", data={"helpful": "yes"})
    keys = set(session.scalars(select(ArticleVote.voter_key)))
    assert len(keys) == 3 and f"user:{user.id}" in keys
    assert "found this helpful" in client.get(f"/kb/{article.id}").get_data(as_text=True)
    assert client.post(f"/kb/{article.id}/vote", data={"helpful": "maybe"}).status_code == 302
    assert session.scalar(select(func.count(ArticleVote.id))) == 3


def test_csrf_is_enforced(csrf_app, make_article, make_user, session):
    client = csrf_app.test_client()
    article = make_article()
    assert client.post(f"/kb/{article.id}/vote", data={"helpful": "yes"}).status_code == 400
    token = csrf_token_from(client.get(f"/kb/{article.id}").get_data(as_text=True))
    assert client.post(f"/kb/{article.id}/vote", data={"helpful": "yes", "csrf_token": token}).status_code == 302
    assert session.scalar(select(func.count(ArticleVote.id))) == 1


def test_csrf_on_transitions(csrf_app, make_article, make_user, session):
    client = csrf_app.test_client()
    lead = make_user("lead")
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"email": lead.email, "password": "correct-horse-battery",
                                       "csrf_token": csrf_token_from(page)}).status_code == 302
    article = make_article(status="in_review")
    assert client.post(f"/kb/{article.id}/status", data={"to_status": "published"}).status_code == 400
    token = csrf_token_from(client.get(f"/kb/{article.id}").get_data(as_text=True))
    resp = client.post(f"/kb/{article.id}/status", data={"to_status": "published", "csrf_token": token})
    assert resp.status_code == 303 and fresh(session, article.id).status == "published"


def test_related_articles_and_search_after_indexing(client, make_article, index_now):
    vpn = make_article(title="VPN will not connect", body="The VPN client fails to connect from home. Restart the "
                                                         "VPN client and check the VPN certificate.",
                       category="network", subcategory="vpn-remote", tags=("vpn",))
    make_article(title="VPN disconnects every hour", body="The VPN connection drops every hour; renew the VPN "
                                                        "certificate and reconnect the VPN client.",
                 category="network", subcategory="vpn-remote", tags=("vpn",))
    make_article(title="Internal VPN gateway runbook", body="VPN gateway restart for VPN client failures.",
                 category="network", audience="internal")
    index_now()
    page = client.get(f"/kb/{vpn.id}").get_data(as_text=True)
    related = page[page.index("Related articles"):]
    assert "VPN disconnects every hour" in related
    assert "Internal VPN gateway runbook" not in related
    results = client.get("/kb/search?q=vpn+certificate").get_data(as_text=True)
    assert "VPN will not connect" in results and "Internal VPN gateway runbook" not in results

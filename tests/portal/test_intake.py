"""Get help: /api/suggest, the no-JS page, session recording and browser binding, the
intake actions with CSRF, the report page and the sweep command."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from flask import render_template, session as flask_session
from sqlalchemy import func, select

from kb import intake
from kb.intake_models import ABANDONED, DEFLECTED, IntakeOpen, IntakeSession
from search import IndexMismatchError
from tests.conftest import csrf_token_from

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def kb_articles(make_article, index_now):
    arts = {
        "public": make_article(title="VPN cannot connect", body="Reinstall the VPN client and renew the token."),
        "internal": make_article(title="VPN gateway restart", body="Restart the VPN gateway cluster.",
                                 audience="internal"),
        "draft": make_article(title="VPN draft notes", body="VPN notes not yet reviewed.", status="draft"),
        "printer": make_article(title="Printer paper jam", body="Open tray 2 and pull the sheet.",
                                category="hardware"),
    }
    index_now()
    return arts


def page_token(client, path="/") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'data-token="([^"]+)"', html).group(1)


def suggest(client, q, **params):
    return client.get("/api/suggest", query_string={"q": q, **params})


def ids(resp) -> set[int]:
    return {s["id"] for s in resp.get_json()["suggestions"]}


def count(session, model) -> int:
    return session.scalar(select(func.count(model.id)))


# ------------------------------------------------------------------ /api/suggest
def test_anonymous_gets_public_published_only(client, kb_articles):
    resp = suggest(client, "vpn connect")
    assert resp.status_code == 200
    found = ids(resp)
    assert kb_articles["public"].id in found
    assert kb_articles["internal"].id not in found and kb_articles["draft"].id not in found
    item = resp.get_json()["suggestions"][0]
    assert item["title"] == "VPN cannot connect" and "<mark>" in item["snippet"] and item["category"]
    assert item["url"].endswith(f"/kb/{kb_articles['public'].id}")


def test_agent_also_gets_internal(client, login, make_user, kb_articles):
    login(make_user("agent"))
    found = ids(suggest(client, "vpn", limit=10))
    assert kb_articles["internal"].id in found and kb_articles["public"].id in found
    assert kb_articles["draft"].id not in found


@pytest.mark.parametrize("q", ["x" * 50_000, 'vpn "quoted" (brackets) [x] {y} <b>', "vpn 🔒💥 AND OR NOT *?~^",
                               "\x00\x1f vpn \u202e", "打印机卡纸"])
def test_odd_and_huge_queries_are_fine(client, kb_articles, q):
    resp = suggest(client, q)
    assert resp.status_code == 200
    assert len(resp.get_json()["query"]) <= 1000
    for s in resp.get_json()["suggestions"]:
        assert "<b>" not in s["snippet"] and "<script" not in s["snippet"]


def test_empty_query_is_an_empty_list(client, kb_articles):
    for q in ("", "   "):
        resp = suggest(client, q)
        assert resp.status_code == 200 and resp.get_json()["suggestions"] == []


@pytest.mark.parametrize("limit", ["0", "21", "-1", "abc", "1.5"])
def test_bad_limit_is_400_json(client, limit):
    resp = suggest(client, "vpn", limit=limit)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"]["status"] == 400 and "limit" in body["error"]["message"]


def test_limit_is_respected(client, make_article, index_now):
    for i in range(6):
        make_article(title=f"VPN article {i}", body="vpn vpn")
    index_now()
    assert len(suggest(client, "vpn", limit=2).get_json()["suggestions"]) == 2
    assert len(suggest(client, "vpn").get_json()["suggestions"]) == 5  # SUGGEST_LIMIT


def test_index_needing_a_rebuild_is_503_json(client, monkeypatch):
    from portal.intake import api

    def broken(*a, **k):
        raise IndexMismatchError("The index was built with another model; run `flask search reindex`.")
    monkeypatch.setattr(api, "find", broken)
    resp = suggest(client, "vpn")
    assert resp.status_code == 503 and "reindex" in resp.get_json()["error"]["message"]
    assert client.get("/?q=vpn").status_code == 503


def test_suggest_is_rate_limited(tmp_path):
    from portal.extensions import db
    from tests.conftest import make_app

    app = make_app(tmp_path, RATELIMIT_ENABLED=True, SUGGEST_RATE_LIMIT="2 per minute")
    with app.app_context():
        db.create_all()
        c = app.test_client()
        codes = [suggest(c, "").status_code for _ in range(3)]
        db.session.remove()
        app.extensions["helpdesk_search"].close()
        db.engine.dispose()
    assert codes == [200, 200, 429]


# ------------------------------------------------------------------ the page without JavaScript
def test_page_renders_suggestions_server_side(client, session, kb_articles):
    resp = client.get("/?q=vpn+connect")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "VPN cannot connect" in html and "<mark>" in html
    assert "VPN gateway restart" not in html
    assert 'action="/intake/' in html and "/solved" in html  # "this solved my problem" form
    assert 'src="/static/js/intake.js"' in html and "<script>" not in html
    assert count(session, IntakeSession) == 1


def test_a_bare_page_view_creates_no_session_row(client, session):
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert count(session, IntakeSession) == 0


def test_page_escapes_the_query(client, kb_articles):
    html = client.get("/", query_string={"q": '<script>alert("x")</script> vpn'}).get_data(as_text=True)
    assert '<script>alert("x")</script>' not in html


# ------------------------------------------------------------------ recording
def test_queries_impressions_and_opens_are_recorded(client, session, kb_articles):
    token = page_token(client)
    for q in ("vpn", "vpn", "vpn connect"):
        assert suggest(client, q, intake=token).get_json()["recorded"] is True
    row = intake.get_intake(session, token)
    assert [q.text for q in row.queries] == ["vpn", "vpn connect"]
    shown = [(i.article_id, i.rank) for i in row.queries[-1].impressions]
    assert shown and shown[0] == (kb_articles["public"].id, 1)

    item = suggest(client, "vpn connect", intake=token).get_json()["suggestions"][0]
    assert item["url"] == f"/intake/{token}/open/{kb_articles['public'].id}"
    resp = client.get(item["url"])
    assert resp.status_code == 302 and resp.location.endswith(f"/kb/{kb_articles['public'].id}?intake={token}")
    [opened] = row.opens
    assert (opened.article_id, opened.rank, opened.query_id) == (kb_articles["public"].id, 1, row.queries[-1].id)


def test_another_browser_cannot_write_into_a_session(app, client, session, kb_articles):
    token = page_token(client)
    suggest(client, "vpn", intake=token)
    art = kb_articles["public"].id

    other = app.test_client()
    page_token(other)  # the other browser has tokens of its own, just not this one
    assert suggest(other, "something else", intake=token).get_json()["recorded"] is False
    assert other.get(f"/?q=hijack&intake={token}").status_code == 200
    assert other.post(f"/intake/{token}/solved", json={"article_id": art}).status_code == 404
    assert other.get(f"/intake/{token}/open/{art}").status_code == 302
    row = intake.get_intake(session, token)
    assert [q.text for q in row.queries] == ["vpn"] and row.outcome is None
    assert count(session, IntakeOpen) == 0


def test_solved_by_json_ends_the_session_deflected(client, session, kb_articles):
    token = page_token(client)
    suggest(client, "vpn", intake=token)
    art = kb_articles["public"].id
    resp = client.post(f"/intake/{token}/solved", json={"article_id": art})
    assert resp.status_code == 200 and resp.get_json() == {"outcome": DEFLECTED, "article_id": art}
    row = intake.get_intake(session, token)
    assert (row.outcome, row.deflected_article_id) == (DEFLECTED, art)
    assert client.post(f"/intake/{token}/solved", json={"article_id": "x"}).status_code == 400
    other = kb_articles["printer"].id
    assert client.post(f"/intake/{token}/solved", json={"article_id": other}).status_code == 409


def test_solved_by_form_without_javascript(client, session, kb_articles):
    html = client.get("/?q=vpn+connect").get_data(as_text=True)
    action = re.search(r'action="(/intake/[^"]+/solved)"', html).group(1)
    resp = client.post(action, data={"article_id": kb_articles["public"].id})
    assert resp.status_code == 302 and "/intake/thanks" in resp.location
    thanks = client.get(resp.location).get_data(as_text=True)
    assert "VPN cannot connect" in thanks
    token = action.split("/")[2]
    assert f"/tickets/new?intake={token}" in thanks  # so a deflection that did not hold is caught


def test_article_not_suggested_cannot_be_credited(client, kb_articles):
    token = page_token(client)
    suggest(client, "printer", intake=token)
    resp = client.post(f"/intake/{token}/solved", json={"article_id": kb_articles["internal"].id})
    assert resp.status_code == 404


def test_article_page_partial_offers_solved_only_from_a_suggestion(app, client, session, kb_articles):
    token = page_token(client)
    suggest(client, "vpn connect", intake=token, limit=1)
    art = kb_articles["public"]
    with client.session_transaction() as s:
        tokens = list(s["intake_tokens"])
    with app.test_request_context(f"/kb/{art.id}?intake={token}"):
        flask_session["intake_tokens"] = tokens
        html = render_template("intake/_article_solved.html", article=art)
        assert f'action="/intake/{token}/solved"' in html and f'value="{art.id}"' in html
        assert render_template("intake/_article_solved.html", article=kb_articles["printer"]).strip() == ""
    with app.test_request_context(f"/kb/{art.id}?intake={token}"):  # another browser
        assert render_template("intake/_article_solved.html", article=art).strip() == ""


def test_solved_from_the_article_page_reached_from_a_suggestion(client, session, kb_articles):
    token = page_token(client)
    item = suggest(client, "vpn connect", intake=token).get_json()["suggestions"][0]
    page = client.get(item["url"], follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'action="/intake/{token}/solved"' in html
    plain = client.get(f"/kb/{item['id']}").get_data(as_text=True)  # not reached from a suggestion
    assert "/solved" not in plain
    resp = client.post(f"/intake/{token}/solved", data={"article_id": item["id"]})
    assert resp.status_code == 302
    assert intake.get_intake(session, token).deflected_article_id == item["id"]


# ------------------------------------------------------------------ CSRF
def test_csrf_is_enforced_on_solved(csrf_app, kb_articles):
    client = csrf_app.test_client()
    html = client.get("/?q=vpn+connect").get_data(as_text=True)
    token = re.search(r'data-token="([^"]+)"', html).group(1)
    art = kb_articles["public"].id
    resp = client.post(f"/intake/{token}/solved", json={"article_id": art})
    assert resp.status_code == 400
    resp = client.post(f"/intake/{token}/solved", json={"article_id": art},
                       headers={"X-CSRFToken": csrf_token_from(html)})
    assert resp.status_code == 200


# ------------------------------------------------------------------ report and sweep
def test_stats_page_is_for_leads_and_admins(client, login, make_user, session, kb_articles):
    assert client.get("/intake/stats").status_code == 302  # log in first
    login(make_user())
    assert client.get("/intake/stats").status_code == 403
    client.post("/logout")
    login(make_user("lead"))
    token = page_token(client)
    suggest(client, "vpn", intake=token)
    client.post(f"/intake/{token}/solved", json={"article_id": kb_articles["public"].id})
    resp = client.get("/intake/stats")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Honest deflection rate" in html and "unverifiable" in html
    assert client.get("/intake/stats?since=yesterday").status_code == 400
    assert client.get("/intake/stats?since=2025-02-01&until=2025-01-01").status_code == 400


def test_sweep_command(app, session, kb_articles):
    token = intake.new_token()
    intake.record_query(session, None, token, "vpn", [kb_articles["public"].id], now=T0)
    session.commit()
    result = app.test_cli_runner().invoke(args=["intake", "sweep"])
    assert result.exit_code == 0 and "1 intake session" in result.output
    session.expire_all()
    assert intake.get_intake(session, token).outcome == ABANDONED

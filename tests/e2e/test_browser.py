"""The portal in a real browser (Debian's Chromium via Playwright), with the real model.

Screenshots go to test-artifacts/ so a person can look at what users see.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from kb.demo import DEMO_PASSWORD
from tests.e2e.conftest import shot

pytestmark = [pytest.mark.e2e, pytest.mark.real_model]


def suggestion_titles(page) -> list[str]:
    return [t.strip() for t in page.locator("#intake-suggestions .intake-title").all_inner_texts()]


def test_requester_finds_an_answer_while_typing_and_marks_it_solved(live_server, page):
    page.goto(live_server["url"] + "/")
    expect(page.locator("h1")).to_have_text("Get help")
    typed = "my notebook stays dark when I press the power button"
    # Suggestions for a prefix can show while the full text is still being answered (a loaded
    # machine delays keystrokes past the debounce): wait for the answer to the whole text.
    final = f"q={quote(typed)}&"
    with page.expect_response(lambda r: "/api/suggest" in r.url and final in r.url, timeout=30_000) as answer:
        page.locator("#intake-q").press_sequentially(typed, delay=15)
    first = answer.value.json()["suggestions"][0]["title"]
    expect(page.locator("#intake-suggestions .intake-title").first).to_have_text(first, timeout=15_000)
    titles = suggestion_titles(page)
    assert any("turn on" in t or "power" in t.lower() for t in titles[:3]), titles
    assert page.locator("#intake-suggestions mark").count() > 0  # matched words highlighted
    path = shot(page, "intake-suggestions-en")
    assert path.stat().st_size > 10_000

    page.locator("#intake-suggestions .intake-title", has_text="turn on").first.click()
    expect(page.locator("h1")).to_contain_text("turn on")
    shot(page, "article-page")
    page.get_by_role("button", name="This solved my problem").first.click()
    expect(page.get_by_text("Glad that helped")).to_be_visible()
    assert page.js_errors == []


def test_internal_articles_never_reach_anonymous_visitors(live_server, page):
    page.goto(live_server["url"] + "/")
    page.locator("#intake-q").fill("unlock an AD account in the admin console")
    expect(page.locator("#intake-suggestions .intake-suggestion").first).to_be_visible(timeout=15_000)
    assert "Unlock an AD account in the admin console" not in suggestion_titles(page)
    assert page.locator("#intake-suggestions .badge.internal").count() == 0


def test_chinese_interface_and_chinese_query(live_server, browser):
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = context.new_page()
    try:
        page.goto(live_server["url"] + "/")
        expect(page.locator("h1")).to_have_text("获取帮助")
        page.locator("#intake-q").fill("打印机又卡纸了")
        expect(page.locator("#intake-suggestions .intake-suggestion").first).to_be_visible(timeout=15_000)
        assert "打印机卡纸怎么办" in suggestion_titles(page)[:3]
        shot(page, "intake-suggestions-zh")
    finally:
        context.close()


def test_works_without_javascript(live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(live_server["url"] + "/")
        page.locator("#intake-q").fill("Outlook is stuck on loading profile")
        page.get_by_role("button", name="Find answers").click()
        expect(page.locator("#intake-suggestions .intake-suggestion").first).to_be_visible()
        assert any("Outlook" in t for t in suggestion_titles(page)[:3])
        page.get_by_role("button", name="None of these help: file a ticket").click()
        expect(page).to_have_url(re.compile(r"/login"))  # filing a ticket needs an account
    finally:
        context.close()


def test_knowledge_base_pages_and_review(live_server, page):
    url = live_server["url"]
    page.goto(url + "/kb/")
    expect(page.locator("h1")).to_be_visible()
    shot(page, "kb-browse")
    page.goto(url + "/kb/search?q=vpn+certificate+expired")
    assert page.locator("a", has_text="certificate").count() > 0
    shot(page, "kb-search")

    page.goto(url + "/login")
    page.locator("input[name=email]").fill("lead@contoso.example")
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Leo Lead")).to_be_visible()
    page.goto(url + "/kb/new")
    page.locator("input[name=title]").fill("Teams camera is black in meetings")
    page.locator("textarea[name=body]").fill("## Resolution\n\n1. Close other apps using the camera.\n"
                                               "2. In Teams, open **Settings > Devices** and pick the camera.")
    page.locator("select[name=category]").select_option("hardware")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("h1")).to_contain_text("Teams camera is black")
    shot(page, "article-draft")
    assert page.js_errors == []

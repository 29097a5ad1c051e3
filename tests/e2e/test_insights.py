"""Issue 6 (part): a lead opens Insights on the demo history; both charts are drawn as real images
(inline SVG, no script, no CDN), the numbers open with a click, and the screenshot is kept."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.test_ticket_journey import logged_in

pytestmark = pytest.mark.e2e


def _open_tickets(app) -> None:
    """Two more tickets open now, in the backlog's youngest band."""
    with app.app_context():
        from kb.taxonomy import get_category
        from kb.tickets import create_ticket
        from kb.users import get_user_by_email
        from portal.extensions import db

        bob = get_user_by_email(db.session, "bob@contoso.example")
        for title, slug in (("Printer on floor 3 prints blank pages", "hardware"), ("VPN drops at home", "network")):
            create_ticket(db.session, bob, title=title, description=title + ".", route=False,
                          category_id=get_category(db.session, slug).id)
        db.session.commit()
        db.session.remove()


def test_a_lead_sees_the_charts_filled(live_server, browser):
    url = live_server["url"]
    _open_tickets(live_server["app"])
    lead = logged_in(browser, url, "lead@contoso.example")
    lead.goto(url + "/")
    lead.get_by_role("link", name="Insights").click()
    expect(lead.get_by_test_id("indicators")).to_contain_text("Resolution rate")
    expect(lead.get_by_test_id("indicators")).not_to_contain_text("–")  # the demo history fills every one
    volume, backlog = lead.get_by_test_id("chart-volume"), lead.get_by_test_id("chart-backlog")
    expect(volume.locator("svg[role=img]")).to_be_visible()
    assert volume.locator("svg[role=img] rect").count() >= 10  # the demo's four weeks of tickets, stacked by category
    assert backlog.locator("svg[role=img] rect").count() >= 1
    box = volume.locator("svg[role=img]").bounding_box()
    assert box["width"] > 600 and box["height"] > 150  # drawn at size, not collapsed
    expect(volume.locator(".legend")).to_contain_text("Network connectivity")
    expect(lead.get_by_test_id("chart-triage").locator("svg[role=img] rect").first).to_be_visible()
    lead.get_by_text("Numbers").first.click()
    expect(lead.locator("details.numbers table").first).to_be_visible()
    shot(lead, "insights-dashboard")
    lead.select_option("select[name=by]", "channel")
    lead.get_by_role("button", name="Show").click()
    expect(lead.get_by_test_id("chart-volume").locator(".legend")).to_contain_text("Email")
    assert lead.js_errors == []
    lead.context.close()


def _since(days: int) -> str:
    return "?since=" + (date.today() - timedelta(days=days - 1)).isoformat()


def _chart_drawn(page, testid: str, shapes: str = "rect", at_least: int = 1) -> None:
    chart = page.get_by_test_id(testid)
    expect(chart.locator("svg[role=img]")).to_be_visible()
    assert chart.locator(f"svg[role=img] {shapes}").count() >= at_least, testid
    expect(chart.locator(".empty-note")).to_have_count(0)


def test_a_lead_sees_every_insights_page_filled_and_the_review(live_server, browser):
    """Months of demo history: each page of Insights over the last 90 days has its charts and
    lists filled; the worker has published last week's review, which opens from the archive."""
    url = live_server["url"]
    lead = logged_in(browser, url, "lead@contoso.example")
    since = _since(90)
    lead.goto(url + "/insights/service" + since)
    for testid in ("chart-response", "chart-resolution", "chart-breaches"):
        _chart_drawn(lead, testid)
    _chart_drawn(lead, "chart-satisfaction", "path, polyline")
    assert lead.get_by_test_id("chart-response").locator("svg .target").count() >= 1  # the SLA targets, dashed
    shot(lead, "insights-service")
    lead.goto(url + "/insights/self-service" + since)
    _chart_drawn(lead, "chart-sessions", at_least=5)
    assert lead.get_by_test_id("top-articles").locator("tbody tr").count() >= 1
    assert lead.get_by_test_id("content-gaps").locator("li, tbody tr").count() >= 1
    shot(lead, "insights-self-service")
    lead.goto(url + "/insights/problems" + since)
    problems = lead.get_by_test_id("problems").locator("li.card")
    assert problems.count() >= 3
    expect(lead.get_by_test_id("problems")).to_contain_text("growing")
    expect(lead.get_by_role("button", name="Draft an article from").first).to_be_visible()
    shot(lead, "insights-problems")
    lead.goto(url + "/insights/people" + since)
    assert lead.get_by_test_id("agents").locator("tbody tr").count() >= 2
    assert lead.get_by_test_id("accountability").locator("li, tbody tr").count() >= 1
    expect(lead.get_by_test_id("recognition")).to_contain_text("Sam Agent")
    shot(lead, "insights-people")
    lead.get_by_role("link", name="Reviews").click()
    review_link = lead.get_by_test_id("reviews").get_by_role("link", name="Weekly review")
    for _ in range(60):  # the worker publishes it on its first scheduler pass (real model)
        if review_link.count():
            break
        lead.wait_for_timeout(1000)
        lead.reload()
    review_link.first.click()
    expect(lead.get_by_test_id("review-actions").locator("li").first).to_be_visible()
    expect(lead.locator("main")).to_contain_text("Indicators")
    shot(lead, "insights-review")
    assert lead.js_errors == []
    lead.context.close()


def test_an_agent_sees_their_own_performance_in_chinese(live_server, browser):
    """李伟 (an agent, Chinese interface) sees only their own row, in Chinese."""
    url = live_server["url"]
    agent = logged_in(browser, url, "liwei@contoso.example", "李伟")
    agent.goto(url + "/insights/people" + _since(90))
    rows = agent.get_by_test_id("agents").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("李伟")
    expect(agent.get_by_test_id("accountability")).to_have_count(0)  # leads only
    shot(agent, "insights-people-zh")
    assert agent.js_errors == []
    agent.context.close()

"""Issue 6 (part): a lead opens Insights on the demo history; both charts are drawn as real images
(inline SVG, no script, no CDN), the numbers open with a click, and the screenshot is kept."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.test_ticket_journey import logged_in

pytestmark = pytest.mark.e2e


def _open_tickets(app) -> None:
    """Two tickets still open (the demo history is all resolved or closed): the backlog."""
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

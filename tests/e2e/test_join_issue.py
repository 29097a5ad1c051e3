"""Issue 4, "done": a requester describing an already-reported problem is offered to join it
in the browser, and joining works (real model, live server, Chromium)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kb.demo import DEMO_PASSWORD
from tests.e2e.conftest import shot
from tests.e2e.test_ticket_journey import logged_in

pytestmark = [pytest.mark.e2e, pytest.mark.real_model]

REPORTS = [("carla.e2e@contoso.example", "Carla Colleague", "Printer prints blank pages",
            "The printer on the third floor only prints blank pages since this morning."),
           ("dan.e2e@contoso.example", "Dan Colleague", "Third floor printer: empty pages",
            "Printer on floor 3 gives out empty sheets, nothing is printed on them.")]


def test_a_requester_joins_the_issue_colleagues_already_reported(live_server, browser):
    url, app = live_server["url"], live_server["app"]
    with app.app_context():
        from kb.tickets import create_ticket
        from kb.users import create_user
        from portal.extensions import db
        from portal.search_ext import holder

        first = None
        for email, name, title, description in REPORTS:
            user = create_user(db.session, None, email=email, name=name, password=DEMO_PASSWORD)
            ticket = create_ticket(db.session, user, title=title, description=description,
                                   embedder=holder().embedder())
            first = first or ticket
        create_user(db.session, None, email="erik.e2e@contoso.example", name="Erik Requester",
                    password=DEMO_PASSWORD)
        db.session.commit()
        root_id, reference = first.id, first.reference
        db.session.remove()

    erik = logged_in(browser, url, "erik.e2e@contoso.example")
    erik.goto(url + "/")
    erik.locator("#intake-q").press_sequentially("the printer on the 3rd floor prints blank pages", delay=15)
    notice = erik.get_by_test_id("intake-report")
    expect(notice).to_be_visible(timeout=15_000)
    expect(notice).to_contain_text("2 colleagues reported a similar problem")
    expect(notice).to_contain_text("in the last hour")
    expect(notice).not_to_contain_text("Printer prints blank pages")  # nobody's own title
    shot(erik, "intake-colleagues-reported")

    notice.get_by_role("button", name="Add me to this issue").click()
    expect(erik.locator(".flash-success")).to_contain_text(f"You were added to {reference}")
    assert erik.url.rstrip("/").endswith(f"/tickets/{root_id}")
    expect(erik.get_by_test_id("following-notice")).to_contain_text("You follow this issue")
    expect(erik.locator("#conversation")).to_be_visible()
    expect(erik.locator("#timeline")).not_to_contain_text("Carla")  # the colleague who filed it stays anonymous
    shot(erik, "intake-joined-issue")

    erik.goto(url + "/tickets/")
    expect(erik.get_by_test_id("following")).to_contain_text(reference)
    # typing it again now says "you follow this issue" instead of offering to join
    erik.goto(url + "/")
    erik.locator("#intake-q").press_sequentially("printer on the third floor prints blank pages", delay=15)
    expect(erik.get_by_test_id("intake-report")).to_contain_text("You follow this issue", timeout=15_000)
    assert erik.js_errors == []
    erik.context.close()

"""Trainer curation in a real browser, as issue 5 defines "done": a trainer builds a
collection with two articles and assigns it to a team; a team member completes it from
"My learning"; an article in it changes materially and the learner is told. Plus the
print view, rendered with print media and saved as a screenshot (and a PDF)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, shot
from tests.e2e.test_ticket_journey import logged_in

pytestmark = [pytest.mark.e2e, pytest.mark.real_model]
PRIORITY = "What ticket priority means and how it's set"
RESPONSE = "Response time expectations for tickets and requests"


def add_article(page, query: str, title: str) -> None:
    page.get_by_role("searchbox", name="Search articles").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_test_id("search-results").get_by_role("button", name=f"Add “{title}”").click()
    expect(page.locator(".flash-success")).to_contain_text("Article added")


def test_trainer_builds_assigns_learner_completes_and_hears_of_a_change(live_server, browser):
    url = live_server["url"]

    # 1. The trainer builds a collection with two articles and publishes it
    trainer = logged_in(browser, url, "trainer@contoso.example")
    trainer.get_by_role("navigation").get_by_role("link", name="Collections").click()
    trainer.fill("input[name=title]", "Service desk onboarding")
    trainer.fill("textarea[name=intro]", "Read these in your **first week**.")
    trainer.get_by_label("Agent", exact=True).check()
    trainer.get_by_role("button", name="Create collection").click()
    expect(trainer.locator("h1")).to_contain_text("Service desk onboarding")
    trainer.fill("#new-section-title", "How we prioritise")
    trainer.get_by_role("button", name="Add section").click()
    add_article(trainer, "what ticket priority means", PRIORITY)
    add_article(trainer, "response time expectations", RESPONSE)
    trainer.get_by_test_id("section-1").get_by_placeholder("Note for this step").first.fill(
        "Learn P1 to P4 by heart.")
    trainer.get_by_test_id("section-1").get_by_role("button", name="Save note").first.click()
    expect(trainer.get_by_test_id("suggestions")).to_be_visible()
    trainer.get_by_role("button", name="Publish").click()
    expect(trainer.locator(".flash-success")).to_contain_text("Published")
    shot(trainer, "collections-edit")
    collection_url = trainer.url.split("#")[0].removesuffix("/edit")

    # 2. ... and assigns it to the Service Desk team with a due date
    trainer.get_by_role("link", name="Assign", exact=True).click()
    trainer.select_option("select[name=team_id]", label="Service Desk")
    trainer.fill("input[name=due]", "2031-06-30")
    trainer.get_by_role("button", name="Assign and notify").click()
    expect(trainer.locator(".flash-success")).to_contain_text("notified")

    # 3. A team member opens My learning and completes both steps
    sam = logged_in(browser, url, "agent@contoso.example")
    sam.get_by_role("navigation").get_by_role("link", name="My learning").click()
    row = sam.get_by_test_id("my-learning").get_by_role("row", name=re.compile("Service desk onboarding"))
    expect(row).to_contain_text("0%")
    row.get_by_role("link", name="Service desk onboarding").click()
    expect(sam.get_by_text("Learn P1 to P4 by heart.")).to_be_visible()
    for title in (PRIORITY, RESPONSE):
        sam.get_by_role("button", name=f"Mark “{title}” as done").click()
    expect(sam.get_by_test_id("step-state").filter(has_text="Done")).to_have_count(2)
    sam.get_by_role("link", name="My learning").first.click()
    expect(row).to_contain_text("100%")
    shot(sam, "collections-my-learning")

    # 4. The trainer (an editor) changes one article materially
    trainer.goto(collection_url + "/edit")
    trainer.get_by_test_id("section-1").get_by_role("link", name=PRIORITY).click()
    trainer.get_by_role("link", name="Edit", exact=True).click()
    body = trainer.locator("textarea[name=body]")
    body.fill(body.input_value() + "\n\n## Major incidents\n\nA P1 that affects many people becomes a major "
                                   "incident: call the duty manager at once and open the incident bridge.\n")
    trainer.fill("input[name=note]", "Added how a P1 becomes a major incident")
    trainer.get_by_role("button", name="Save").click()
    expect(trainer.locator(".flash-success")).to_contain_text("Saved")

    # 5. The learner is told what changed, and the step is marked
    sam.goto(url + "/notifications/")
    expect(sam.locator(".notice-list")).to_contain_text("Added how a P1 becomes a major incident")
    expect(sam.locator(".notice-list")).to_contain_text("New section: Major incidents")
    sam.goto(collection_url)
    changed = sam.get_by_test_id("step").filter(has_text=PRIORITY)
    expect(changed).to_contain_text("Changed since you completed it")
    shot(sam, "collections-step-changed")
    changed.get_by_role("link", name="What changed").click()
    expect(sam.locator(".diff")).to_contain_text("Major incidents")
    sam.goto(url + "/learning/")
    expect(row).to_contain_text("50%")
    shot(sam, "collections-changed")

    # 6. The trainer follows progress; the print view makes one clean document
    trainer.goto(collection_url + "/progress")
    expect(trainer.get_by_test_id("progress")).to_contain_text("Sam Agent")
    trainer.goto(collection_url + "/print")
    expect(trainer.get_by_test_id("print-doc")).to_contain_text("Major incidents")
    trainer.emulate_media(media="print")
    expect(trainer.locator(".topbar")).to_be_hidden()
    expect(trainer.locator(".print-bar")).to_be_hidden()
    shot(trainer, "collections-print")
    ARTIFACTS.mkdir(exist_ok=True)
    trainer.pdf(path=str(ARTIFACTS / "collections-print.pdf"))
    assert (ARTIFACTS / "collections-print.pdf").stat().st_size > 10_000
    assert trainer.js_errors == [] and sam.js_errors == []

"""The whole ticket lifecycle in a real browser, as issue 3 defines "done":

a requester files a ticket with a screenshot -> it is triaged and assigned automatically
-> the agent acknowledges, asks a question, the requester answers, the agent resolves ->
the requester reopens -> the agent resolves again -> the requester confirms -> the survey
is answered -> the SLA report shows the right times.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kb.demo import DEMO_PASSWORD, DEMO_USERS
from tests.e2e.conftest import shot

pytestmark = [pytest.mark.e2e, pytest.mark.real_model]
EMAIL_BY_NAME = {name: email for email, name, _role, _locale in DEMO_USERS}


def logged_in(browser, url: str, email: str, signed_in_text: str = "Log out", *, english: bool = False):
    """A new browser context signed in as ``email``. ``english``: a user whose interface is in
    Chinese switches it to English (the journey's checks read English); :func:`switch_back`
    restores their choice."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.switched_from = None
    if english:
        expect(page.locator(".usernav button.linkish").first).to_be_visible()
        to_english = page.locator(".usernav button[lang=en]")
        if to_english.count():
            to_english.click()
            page.switched_from = "zh"
    expect(page.locator(".usernav")).to_contain_text(signed_in_text)  # in the user's own language
    return page


def switch_back(page) -> None:
    """Give a user switched to English by :func:`logged_in` their own language again."""
    if page.switched_from:
        page.locator(f".usernav button[lang={page.switched_from}]").click()
        expect(page.locator(f".usernav button[lang=en]")).to_be_visible()


def status_is(page, text: str) -> None:
    expect(page.get_by_test_id("ticket-status")).to_have_text(text)


def test_ticket_journey_from_filing_to_survey_and_sla_report(live_server, browser, tmp_path):
    url, app = live_server["url"], live_server["app"]
    alice = logged_in(browser, url, "alice@contoso.example")

    # 1. File a ticket with a screenshot
    screenshot = tmp_path / "vpn-error.png"
    alice.goto(url + "/")
    alice.screenshot(path=str(screenshot))
    alice.goto(url + "/tickets/new?text=" + "VPN disconnects every few minutes when working from home")
    alice.select_option("select[name=category]", "vpn-remote")
    alice.select_option("select[name=impact]", "single")
    alice.select_option("select[name=urgency]", "impeded")
    alice.set_input_files("input[name=files]", str(screenshot))
    alice.get_by_role("button", name="File the ticket").click()
    expect(alice.locator(".flash-success")).to_contain_text("filed")
    ticket_url = alice.url
    ticket_id = int(ticket_url.rstrip("/").split("/")[-1])

    # 2. Triaged and assigned automatically
    status_is(alice, "Assigned")
    expect(alice.get_by_test_id("ticket-category")).to_contain_text("VPN and remote work")
    expect(alice.get_by_test_id("ticket-team")).to_have_text("Infrastructure")
    expect(alice.locator("#attachments")).to_contain_text("vpn-error.png")
    assignee = alice.get_by_test_id("ticket-assignee").inner_text().strip()
    assert assignee in EMAIL_BY_NAME, assignee
    shot(alice, "ticket-filed-requester")

    # 3. The agent acknowledges with a plan and an expected time, then asks a question
    agent = logged_in(browser, url, EMAIL_BY_NAME[assignee], english=True)  # routing may pick 李伟
    agent.goto(ticket_url)
    expect(agent.locator("#sla")).to_contain_text("Due")
    agent.fill("textarea[name=acknowledge-planned_actions]", "Check the VPN client logs and the gateway.")
    agent.fill("input[name=acknowledge-expected_completion_at]", "2031-01-15T10:00")
    agent.get_by_role("button", name="Accept and tell the requester").click()
    status_is(agent, "Acknowledged")
    agent.fill("textarea[name=reply-body]", "Which Wi-Fi or router do you use at home?")
    agent.select_option("select[name=reply-mode]", "ask")
    agent.get_by_role("button", name="Send", exact=True).click()
    status_is(agent, "Waiting for requester")
    shot(agent, "ticket-agent-desk")

    # 4. The requester sees the plan and the question, and answers
    alice.goto(ticket_url)
    status_is(alice, "Waiting for you")
    expect(alice.locator("#acknowledgement")).to_contain_text("Check the VPN client logs")
    expect(alice.locator("#conversation")).to_contain_text("Which Wi-Fi or router")
    alice.fill("textarea[name=requester_reply-body]", "A FritzBox 7590 on 5 GHz.")
    alice.get_by_role("button", name="Send reply").click()
    status_is(alice, "In progress")

    # 5. The agent resolves; the requester reopens with a reason
    def resolve(text: str) -> None:
        agent.goto(ticket_url)
        agent.locator("#work summary", has_text="Resolve").click()
        agent.fill("textarea[name=resolve-resolution]", text)
        agent.get_by_role("button", name="Resolve and ask the requester to confirm").click()
        status_is(agent, "Resolved")

    resolve("Lowered the MTU on the VPN profile.")
    alice.goto(ticket_url)
    expect(alice.locator("#resolution")).to_contain_text("Lowered the MTU")
    alice.locator("#resolution summary", has_text="No, it is not solved").click()
    alice.fill("textarea[name=reopen-reason]", "It dropped again this morning.")
    alice.get_by_role("button", name="Reopen the ticket").click()
    status_is(alice, "Reopened")

    # 6. Back to diagnosis, resolved again, confirmed
    agent.goto(ticket_url)
    agent.get_by_role("button", name="Back to diagnosis").click()
    status_is(agent, "In progress")
    resolve("Replaced the VPN profile with the split-tunnel profile.")
    alice.goto(ticket_url)
    alice.get_by_role("button", name="Yes, it is solved").click()
    status_is(alice, "Closed")

    # 7. The survey
    alice.get_by_role("link", name="Rate our service").click()
    for name, value in (("speed", "4"), ("effectiveness", "5"), ("communication", "5")):
        alice.locator(f"input[name={name}][value='{value}']").check(force=True)
    alice.fill("textarea[name=comment]", "Quick and friendly.")
    alice.get_by_role("button", name="Send my rating").click()
    expect(alice.locator("#survey")).to_contain_text("5 of 5")
    shot(alice, "ticket-closed-rated")

    # 8. The SLA report shows the times the clocks recorded
    with app.app_context():
        from kb.ticket_events import list_events
        from kb.tickets import Ticket
        from portal.extensions import db
        ticket = db.session.get(Ticket, ticket_id)
        first_reply = next(e.created_at for e in list_events(db.session, ticket) if e.kind == "agent_public_reply")
        reference, resolved_at = ticket.reference, ticket.resolved_at
        assert ticket.first_responded_at == first_reply
        db.session.remove()
    lead = logged_in(browser, url, "lead@contoso.example")
    lead.goto(url + "/reports/sla")
    row = lead.locator("tr", has_text=reference)
    expect(row).to_contain_text(first_reply.strftime("%Y-%m-%d %H:%M"))
    expect(row).to_contain_text(resolved_at.strftime("%Y-%m-%d %H:%M"))
    expect(row).to_contain_text("met")
    shot(lead, "sla-report")
    switch_back(agent)
    for p in (alice, agent, lead):
        assert p.js_errors == []
        p.context.close()

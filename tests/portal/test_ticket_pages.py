"""The ticket page through HTTP: the requester and the agent each see their own tools, the
whole lifecycle runs through the forms, a failed form keeps what was typed, and the audit
trail and export are for the right people."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from kb.ticket_events import list_events
from kb.tickets import Ticket
from tests.conftest import PASSWORD, csrf_token_from


def client_for(app, user):
    c = app.test_client()
    resp = c.post("/login", data={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 302
    return c


@pytest.fixture
def people(make_user):
    return {"alice": make_user(), "bob": make_user(), "agent": make_user("agent"), "lead": make_user("lead")}


@pytest.fixture
def filed(app, session, people):
    alice = client_for(app, people["alice"])
    resp = alice.post("/tickets/new", data={"title": "Laptop will not boot", "description": "Black screen and beeps",
                                            "category": "laptops-desktops", "impact": "single",
                                            "urgency": "stopped", "contact_phone": "+1 555 0100"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    ticket = session.query(Ticket).one()
    return ticket, alice


def test_filing_records_the_registration_and_shows_the_priority(session, filed, people):
    ticket, alice = filed
    assert (ticket.channel, ticket.contact_phone, ticket.impact, ticket.urgency) == ("portal", "+1 555 0100",
                                                                                     "single", "stopped")
    assert ticket.subcategory.slug == "laptops-desktops" and ticket.category.slug == "hardware"
    assert ticket.priority == "medium" and "work stopped" in ticket.priority_reason
    assert list_events(session, ticket)[0].kind == "created"
    page = alice.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert ticket.reference in page and "Laptops and desktops" in page
    assert 'id="work"' not in page and "Internal note" not in page  # no agent tools for the requester


def test_the_new_ticket_form_offers_categories_impact_and_urgency(app, people):
    page = client_for(app, people["alice"]).get("/tickets/new?text=the+whole+office+lost+data").get_data(as_text=True)
    assert "Laptops and desktops" in page and "My work has stopped" in page and 'name="files"' in page
    assert 'selected value="all"' in page  # "lost data" pre-selects the highest impact


def test_the_whole_lifecycle_through_the_forms(app, session, filed, people):
    ticket, alice = filed
    agent = client_for(app, people["agent"])
    page = agent.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'id="work"' in page and "Similar resolved tickets" in page
    eta = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = agent.post(f"/tickets/{ticket.id}/acknowledge", data={"acknowledge-planned_actions": "Remote check",
                                                              "acknowledge-expected_completion_at": eta})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    assert "Remote check" in alice.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    r = agent.post(f"/tickets/{ticket.id}/reply", data={"reply-body": "Does it beep?", "reply-mode": "ask"})
    assert r.status_code == 302 and session.get(Ticket, ticket.id).status == "waiting_for_requester"
    alice.post(f"/tickets/{ticket.id}/requester-reply", data={"requester_reply-body": "Three beeps."})
    assert session.get(Ticket, ticket.id).status == "in_progress"
    agent.post(f"/tickets/{ticket.id}/resolve", data={"resolve-resolution": "Reseated the memory."})
    assert session.get(Ticket, ticket.id).status == "resolved"
    page = alice.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Did this solve your problem?" in page and "Reseated the memory." in page
    alice.post(f"/tickets/{ticket.id}/reopen", data={"reopen-reason": "Still beeping"})
    assert session.get(Ticket, ticket.id).status == "reopened"
    agent.post(f"/tickets/{ticket.id}/start", data={})
    agent.post(f"/tickets/{ticket.id}/resolve", data={"resolve-resolution": "Replaced the memory."})
    r = alice.post(f"/tickets/{ticket.id}/confirm", data={})
    assert r.status_code == 302 and session.get(Ticket, ticket.id).status == "closed"
    page = alice.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Rate our service" in page


def test_a_failed_form_keeps_what_was_typed(app, filed, people):
    ticket, _alice = filed
    agent = client_for(app, people["agent"])
    past = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = agent.post(f"/tickets/{ticket.id}/acknowledge", data={"acknowledge-planned_actions": "My careful plan",
                                                              "acknowledge-expected_completion_at": past})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "My careful plan" in page and "must be in the future" in page


def test_requester_cannot_use_agent_actions_and_others_get_404(app, filed, people):
    ticket, alice = filed
    assert alice.post(f"/tickets/{ticket.id}/resolve", data={"resolve-resolution": "x"}).status_code == 403
    bob = client_for(app, people["bob"])
    assert bob.get(f"/tickets/{ticket.id}").status_code == 404
    assert bob.post(f"/tickets/{ticket.id}/requester-reply", data={"requester_reply-body": "hi"}).status_code == 404
    assert bob.get(f"/tickets/{ticket.id}/export.json").status_code == 404


def test_actions_need_the_csrf_token(filed, people, session, csrf_app):
    ticket, _ = filed
    c = csrf_app.test_client()
    token = csrf_token_from(c.get("/login").get_data(as_text=True))
    c.post("/login", data={"email": people["agent"].email, "password": PASSWORD, "csrf_token": token})
    r = c.post(f"/tickets/{ticket.id}/take", data={})
    assert r.status_code == 400 and session.get(Ticket, ticket.id).assignee_id is None
    token = csrf_token_from(c.get(f"/tickets/{ticket.id}").get_data(as_text=True))
    r = c.post(f"/tickets/{ticket.id}/take", data={"action-csrf_token": token})
    assert r.status_code == 302 and session.get(Ticket, ticket.id).assignee_id == people["agent"].id


def test_audit_trail_for_leads_only_and_export_filters_notes(app, session, filed, people):
    ticket, alice = filed
    agent = client_for(app, people["agent"])
    agent.post(f"/tickets/{ticket.id}/reply", data={"reply-body": "Staff only remark", "reply-mode": "note"})
    assert agent.get(f"/tickets/{ticket.id}/audit").status_code == 403
    lead = client_for(app, people["lead"])
    page = lead.get(f"/tickets/{ticket.id}/audit").get_data(as_text=True)
    assert "note" in page and "created" in page and "Staff only remark" not in page  # events never hold bodies
    export = alice.get(f"/tickets/{ticket.id}/export.json")
    assert export.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(export.get_data(as_text=True))
    assert data["reference"] == ticket.reference and "Staff only remark" not in export.get_data(as_text=True)
    assert any(m["body"] == "Staff only remark" for m in
               json.loads(agent.get(f"/tickets/{ticket.id}/export.json").get_data(as_text=True))["messages"])
    assert [e.kind for e in list_events(session, ticket)].count("export") == 2


def test_insert_link_buttons_and_related_articles(app, filed, people, make_article, index_now):
    ticket, _ = filed
    make_article(title="Laptop will not boot: black screen", body="Beeps mean memory. Reseat the module.",
                 category="hardware")
    index_now()
    page = client_for(app, people["agent"]).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Laptop will not boot: black screen" in page and 'class="linkish insert-link"' in page

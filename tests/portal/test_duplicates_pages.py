"""Duplicates and incidents through HTTP: the "colleagues reported" notice (JSON and pages),
"Add me to this issue", the following list, and the agent's grouping forms."""
from __future__ import annotations

import pytest

from kb.channel_models import TicketFollower
from kb.ticket_events import list_events
from kb.tickets import Ticket, create_ticket
from portal.search_ext import holder
from tests.conftest import PASSWORD, csrf_token_from

VPN = "VPN disconnects every few minutes from home"


def client_for(app, user):
    c = app.test_client()
    assert c.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return c


@pytest.fixture
def people(make_user):
    return {n: make_user(name=n.title()) for n in ("alice", "bob", "dave")} | {
        "agent": make_user("agent", name="Agent Smith"), "lead": make_user("lead")}


@pytest.fixture
def vpn(app, session, people):
    emb = holder().embedder()
    a = create_ticket(session, people["alice"], title="VPN disconnects", embedder=emb,
                      description="The VPN disconnects every few minutes when I work from home")
    b = create_ticket(session, people["bob"], title="VPN keeps disconnecting", embedder=emb,
                      description="vpn disconnecting every few minutes at home")
    session.commit()
    return a, b


def test_the_notice_is_for_logged_in_people_in_json_and_on_the_page(app, client, people, vpn):
    a, _ = vpn
    assert client.get("/api/reports", query_string={"q": VPN}).status_code == 401
    anonymous = client.get("/", query_string={"q": VPN}).get_data(as_text=True)
    assert "Add me to this issue" not in anonymous and "data-reports-url" not in anonymous
    dave = client_for(app, people["dave"])
    data = dave.get("/api/reports", query_string={"q": VPN}).get_json()
    [r] = data["reports"]
    assert (r["root_id"], r["count"], r["following"], r["ticket_url"]) == (a.id, 2, False, f"/tickets/{a.id}")
    assert r["sentence"].startswith("2 colleagues reported a similar problem") and "in the last hour" in r["sentence"]
    assert "VPN disconnects" not in r["sentence"]                  # a requester's own title is never shown
    assert dave.get("/api/reports", query_string={"q": "printer prints blank pages"}).get_json()["reports"] == []
    page = dave.get("/", query_string={"q": VPN}).get_data(as_text=True)
    assert r["sentence"] in page and "Add me to this issue" in page and f'name="root_id" value="{a.id}"' in page
    form = dave.get("/tickets/new", query_string={"text": VPN}).get_data(as_text=True)
    assert r["sentence"] in form and "Add me to this issue" in form


def test_add_me_follows_the_issue_and_shows_it(app, session, people, vpn):
    a, _ = vpn
    dave = client_for(app, people["dave"])
    resp = dave.post("/intake/join", data={"root_id": a.id, "q": VPN})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tickets/{a.id}")
    page = dave.get(f"/tickets/{a.id}").get_data(as_text=True)
    assert "You were added to" in page and "You follow this issue" in page
    assert "Reported by a colleague" in page and "Alice" not in page and 'id="grouping"' not in page
    assert "A colleague filed the ticket" in page
    mine = dave.get("/tickets/").get_data(as_text=True)
    assert "Issues you follow" in mine and a.reference in mine
    again = dave.post("/intake/join", data={"root_id": a.id, "q": VPN}, follow_redirects=True)
    assert "You already follow" in again.get_data(as_text=True)
    assert session.query(TicketFollower).filter_by(ticket_id=a.id, user_id=people["dave"].id).count() == 1
    assert "You follow this issue" in dave.get("/", query_string={"q": VPN}).get_data(as_text=True)


def test_join_is_refused_for_what_was_not_offered(app, session, people, vpn):
    a, _ = vpn
    dave = client_for(app, people["dave"])
    resp = dave.post("/intake/join", data={"root_id": a.id, "q": "printer prints blank pages"}, follow_redirects=True)
    assert "does not match what you described" in resp.get_data(as_text=True)
    assert dave.post("/intake/join", data={"root_id": "x", "q": VPN}).status_code == 302
    assert session.query(TicketFollower).count() == 0
    assert dave.get(f"/tickets/{a.id}").status_code == 404
    assert app.test_client().post("/intake/join", data={"root_id": a.id, "q": VPN}).status_code == 302  # log in


def test_csrf_is_enforced_on_join(csrf_app, session, people, vpn):
    a, _ = vpn
    dave = csrf_app.test_client()
    login = dave.get("/login").get_data(as_text=True)
    assert dave.post("/login", data={"email": people["dave"].email, "password": PASSWORD,
                                     "csrf_token": csrf_token_from(login)}).status_code == 302
    assert dave.post("/intake/join", data={"root_id": a.id, "q": VPN}).status_code == 400
    page = dave.get("/", query_string={"q": VPN}).get_data(as_text=True)
    resp = dave.post("/intake/join", data={"root_id": a.id, "q": VPN, "csrf_token": csrf_token_from(page)})
    assert resp.status_code == 302 and session.query(TicketFollower).count() == 1


def test_agent_marks_a_duplicate_and_merges_through_the_forms(app, session, people, vpn):
    a, b = vpn
    agent = client_for(app, people["agent"])
    page = agent.get(f"/tickets/{b.id}").get_data(as_text=True)
    assert "Mark as duplicate of" in page and "Merge into" in page and "Declare an incident" in page
    bad = agent.post(f"/tickets/{b.id}/duplicate", data={"duplicate-target": "the vpn one"})
    assert bad.status_code == 400 and "Enter a ticket reference" in bad.get_data(as_text=True)
    missing = agent.post(f"/tickets/{b.id}/duplicate", data={"duplicate-target": "HD-2026-999999"})
    assert missing.status_code == 400 and "We could not find the ticket" in missing.get_data(as_text=True)
    self_ = agent.post(f"/tickets/{b.id}/merge", data={"merge-target": str(b.id)})
    assert self_.status_code == 400 and "itself" in self_.get_data(as_text=True)
    ok = agent.post(f"/tickets/{b.id}/duplicate", data={"duplicate-target": a.reference, "duplicate-note": "Same."},
                    follow_redirects=True)
    html = ok.get_data(as_text=True)
    assert "Marked as a duplicate" in html and f"marked this ticket as a duplicate of {a.reference}" in html
    session.expire_all()
    assert (b.status, b.parent_id) == ("merged", a.id)
    parent = agent.get(f"/tickets/{a.id}").get_data(as_text=True)
    assert b.reference in parent and "Bob" in parent                # child listed; Bob follows
    bob = client_for(app, people["bob"])
    assert "This ticket is a duplicate of" in bob.get(f"/tickets/{b.id}").get_data(as_text=True)
    assert "You follow this issue" in bob.get(f"/tickets/{a.id}").get_data(as_text=True)


def test_requesters_cannot_group(app, session, people, vpn):
    a, b = vpn
    alice = client_for(app, people["alice"])
    assert alice.post(f"/tickets/{a.id}/merge", data={"merge-target": str(b.id)}).status_code in (403, 404)
    assert alice.post(f"/tickets/{a.id}/incident", data={"incident-title": "x", "incident-description": "y"}
                      ).status_code == 403
    session.expire_all()
    assert a.status == "new" and not session.query(Ticket).filter_by(is_incident=True).count()


def test_incident_declared_grows_and_resolving_it_resolves_the_members(app, session, people, vpn):
    a, b = vpn
    agent = client_for(app, people["agent"])
    resp = agent.post(f"/tickets/{a.id}/incident", data={"incident-title": "VPN gateway outage",
                                                          "incident-description": "Sessions drop every few minutes"})
    assert resp.status_code == 302
    inc = session.query(Ticket).filter_by(is_incident=True).one()
    assert agent.post(f"/tickets/{inc.id}/members", data={"members-tickets": f"{b.reference}, 99999"}
                      ).status_code == 400                           # one unknown: nothing added
    session.expire_all()
    assert b.parent_id is None
    assert agent.post(f"/tickets/{inc.id}/members", data={"members-tickets": b.reference}).status_code == 302
    dave = client_for(app, people["dave"])
    [r] = dave.get("/api/reports", query_string={"q": VPN}).get_json()["reports"]
    assert r["incident"] and "“VPN gateway outage”" in r["sentence"] and r["count"] == 2
    agent.post(f"/tickets/{inc.id}/acknowledge", data={"acknowledge-planned_actions": "Restart the gateway",
                                                       "acknowledge-expected_completion_at": "2031-01-15T10:00"})
    done = agent.post(f"/tickets/{inc.id}/resolve", data={"resolve-resolution": "Gateway replaced."})
    assert done.status_code == 302
    session.expire_all()
    assert (a.status, b.status, a.resolution) == ("resolved", "resolved", "Gateway replaced.")
    assert "added this ticket to the incident" in client_for(app, people["alice"]).get(
        f"/tickets/{a.id}").get_data(as_text=True)
    assert any(e.kind == "linked" for e in list_events(session, inc))

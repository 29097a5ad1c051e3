"""Ticket pages: file one (carrying the intake text), my tickets, one ticket (404 for others),
CSRF, and honest deflection end to end."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from kb import intake
from kb.intake_models import DEFLECTED, TICKET
from kb.tickets import Ticket
from tests.conftest import PASSWORD, csrf_token_from

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def vpn(make_article, index_now):
    article = make_article(title="VPN cannot connect", body="Reinstall the VPN client and renew the token.")
    make_article(title="Printer paper jam", body="Open tray 2 and pull the sheet.", category="hardware")
    index_now()
    return article


def page_token(client) -> str:
    return re.search(r'data-token="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def file_ticket(client, title, description, token=""):
    return client.post("/tickets/new", data={"title": title, "description": description, "intake": token})


def test_filing_needs_login(client):
    resp = client.get("/tickets/new?text=vpn")
    assert resp.status_code == 302 and "/login" in resp.location
    assert client.get("/tickets/").status_code == 302


def test_the_typed_text_is_carried_into_the_form(client, login, make_user):
    login(make_user())
    html = client.get("/tickets/new", query_string={"text": "VPN <b>broken</b> since Monday"}).get_data(as_text=True)
    assert "VPN &lt;b&gt;broken&lt;/b&gt; since Monday" in html
    assert 'name="title"' in html and 'value="VPN &lt;b&gt;broken&lt;/b&gt; since Monday"' in html


def test_file_view_and_list(client, login, make_user, session):
    alice = login(make_user())
    resp = file_ticket(client, "Laptop slow", "Since the update.")
    ticket = session.query(Ticket).one()
    assert resp.status_code == 302 and resp.location.endswith(f"/tickets/{ticket.id}")
    html = client.get(resp.location).get_data(as_text=True)
    assert ticket.reference in html and "Since the update." in html and ticket.requester_id == alice.id
    assert re.fullmatch(r"HD-\d{4}-\d{6}", ticket.reference)
    assert ticket.reference in client.get("/tickets/").get_data(as_text=True)
    assert file_ticket(client, "", "no title").status_code == 200  # the form again, with the error
    assert session.query(Ticket).count() == 1


def test_ticket_page_is_404_for_other_requesters(app, client, login, make_user, session):
    login(make_user())
    file_ticket(client, "Mine", "private details")
    ticket = session.query(Ticket).one()

    other = app.test_client()
    bob = make_user()
    other.post("/login", data={"email": bob.email, "password": PASSWORD})
    assert other.get(f"/tickets/{ticket.id}").status_code == 404
    assert ticket.reference not in other.get("/tickets/").get_data(as_text=True)

    agent_client = app.test_client()
    agent = make_user("agent")
    agent_client.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert agent_client.get(f"/tickets/{ticket.id}").status_code == 200
    assert agent_client.get("/tickets/99999").status_code == 404


def test_csrf_is_enforced_on_filing(csrf_app, make_user, session):
    client = csrf_app.test_client()
    user = make_user()
    login_page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token_from(login_page)})
    assert file_ticket(client, "x", "y").status_code == 400
    form = client.get("/tickets/new").get_data(as_text=True)
    resp = client.post("/tickets/new", data={"title": "x", "description": "y", "csrf_token": csrf_token_from(form)})
    assert resp.status_code == 302 and session.query(Ticket).count() == 1


def test_anonymous_intake_then_login_then_ticket_links_the_session(client, make_user, session, vpn):
    token = page_token(client)
    client.get("/api/suggest", query_string={"q": "vpn cannot connect", "intake": token})
    none_help = client.get(f"/tickets/new?intake={token}&text=vpn+cannot+connect")
    assert none_help.status_code == 302  # log in first; the browser keeps its help sessions
    user = make_user()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    html = client.get(f"/tickets/new?intake={token}&text=vpn+cannot+connect").get_data(as_text=True)
    assert f'value="{token}"' in html
    file_ticket(client, "VPN cannot connect", "vpn cannot connect", token)
    ticket = session.query(Ticket).one()
    row = intake.get_intake(session, token)
    assert ticket.intake_session is row and (row.outcome, row.user_id) == (TICKET, user.id)


def test_a_foreign_intake_token_is_not_linked(app, client, login, make_user, session, vpn):
    owner = app.test_client()
    token = page_token(owner)
    owner.get("/api/suggest", query_string={"q": "vpn", "intake": token})
    login(make_user())
    file_ticket(client, "VPN", "broken", token)
    assert session.query(Ticket).one().intake_session is None
    assert intake.get_intake(session, token).outcome is None


def _deflect(client, text, article):
    token = page_token(client)
    client.get("/api/suggest", query_string={"q": text, "intake": token})
    assert client.post(f"/intake/{token}/solved", json={"article_id": article.id}).status_code == 200
    return token


def test_ticket_on_the_same_problem_within_the_window_fails_the_deflection(client, login, make_user, session, vpn,
                                                                          time_machine):
    time_machine.move_to(T0, tick=False)
    login(make_user())
    token = _deflect(client, "vpn cannot connect from home", vpn)
    time_machine.move_to(T0 + timedelta(days=2), tick=False)
    file_ticket(client, "VPN cannot connect", "When I work from home the VPN client says connection failed")
    row = intake.get_intake(session, token)
    ticket = session.query(Ticket).one()
    assert row.outcome == DEFLECTED and row.failure.ticket_id == ticket.id
    assert row.failure.failed_at == T0 + timedelta(days=2)


def test_different_problem_or_after_the_window_keeps_the_deflection(client, login, make_user, session, vpn,
                                                                   time_machine):
    time_machine.move_to(T0, tick=False)
    login(make_user())
    token = _deflect(client, "vpn cannot connect from home", vpn)
    time_machine.move_to(T0 + timedelta(days=1), tick=False)
    file_ticket(client, "Printer jam", "The printer on the third floor has a paper jam")
    time_machine.move_to(T0 + timedelta(days=8), tick=False)
    file_ticket(client, "VPN cannot connect", "When I work from home the VPN client says connection failed")
    assert session.query(Ticket).count() == 2
    assert intake.get_intake(session, token).failure is None

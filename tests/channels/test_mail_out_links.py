"""The confirm / reopen links of the "resolved" mail: they act for the requester without a
login, only with a genuine, fresh token for that ticket and action, and only after a POST."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from kb import ticket_work as work
from kb.contacts import find_or_create_contact
from kb.db import utcnow
from kb.mail_send import ACTION_SALT, sign_action
from kb.ticket_events import list_events
from kb.tickets import Ticket, create_ticket
from tests.channels.smtp_fixture import deliver
from tests.conftest import csrf_token_from


@pytest.fixture
def resolved(app, session, make_user, smtp_server):
    """A contact (no password) whose ticket an agent resolved; the mail went out over SMTP."""
    smtp_server.configure(app, BASE_URL="https://help.example")
    agent = make_user("agent")
    carol, _ = find_or_create_contact(session, "carol@example.test", "Carol")
    ticket = create_ticket(session, agent, title="Scanner offline", description="Since Monday", requester=carol)
    work.acknowledge(session, agent, ticket, planned_actions="Check", expected_completion_at=utcnow() + timedelta(1))
    work.resolve(session, agent, ticket, "Restarted the scan service")
    session.commit()
    deliver(app)
    text = next(m for m in smtp_server.messages if "resolved" in m.message["Subject"]).text()
    links = {action: path for path, action in
             re.findall(r"https://help\.example(/tickets/\d+/mail/(confirm|reopen)\?t=\S+)", text)}
    return {"ticket": ticket, "carol": carol, "agent": agent, "confirm": links["confirm"], "reopen": links["reopen"]}


def status(session, ticket_id):
    session.rollback()
    return session.get(Ticket, ticket_id).status


def test_confirm_link_closes_the_ticket_as_the_requester_without_logging_in(client, session, resolved):
    ticket = resolved["ticket"]
    page = client.get(resolved["confirm"])
    assert page.status_code == 200 and "close the ticket" in page.get_data(as_text=True)
    assert status(session, ticket.id) == "resolved"  # the GET changes nothing (mail scanners follow links)
    done = client.post(resolved["confirm"])
    assert done.status_code == 200 and "the ticket is closed" in done.get_data(as_text=True)
    assert status(session, ticket.id) == "closed"
    closing = [e for e in list_events(session, session.get(Ticket, ticket.id)) if e.to_status == "closed"]
    assert closing[-1].actor_id == resolved["carol"].id
    assert client.get("/tickets/").status_code == 302  # not logged in by the link
    again = client.get(resolved["confirm"])
    assert again.status_code == 200 and "already closed" in again.get_data(as_text=True)


def test_reopen_link_needs_a_reason(client, session, resolved):
    ticket = resolved["ticket"]
    assert 'name="reason"' in client.get(resolved["reopen"]).get_data(as_text=True)
    empty = client.post(resolved["reopen"], data={"reason": "  "})
    assert empty.status_code == 400 and "still not working" in empty.get_data(as_text=True)
    assert status(session, ticket.id) == "resolved"
    assert client.post(resolved["reopen"], data={"reason": "It is offline again"}).status_code == 200
    assert status(session, ticket.id) == "reopened"


def test_tampered_wrong_or_expired_tokens_are_refused(app, client, session, resolved):
    ticket, carol = resolved["ticket"], resolved["carol"]
    path, token = resolved["confirm"].split("?t=")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for url in (f"{path}?t={tampered}", path,                                    # forged, missing
                f"/tickets/{ticket.id}/mail/reopen?t={token}",                   # the other action
                f"/tickets/{ticket.id + 1}/mail/confirm?t={token}"):             # another ticket
        for method in (client.get, client.post):
            resp = method(url, data={"reason": "x"})
            assert resp.status_code == 400, url
            assert "not valid" in resp.get_data(as_text=True)

    class FifteenDaysAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 15 * 24 * 3600
    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=ACTION_SALT, signer=FifteenDaysAgo).dumps(
        {"u": carol.id, "t": ticket.id, "a": "confirm"})
    resp = client.post(f"{path}?t={old}")
    assert resp.status_code == 400 and "expired" in resp.get_data(as_text=True)
    other_secret = sign_action("another-secret", carol.id, ticket.id, "confirm")
    assert client.post(f"{path}?t={other_secret}").status_code == 400
    assert status(session, ticket.id) == "resolved"


def test_a_token_for_someone_who_cannot_see_the_ticket_is_not_found(app, client, session, resolved, make_user):
    stranger = make_user()
    token = sign_action(app.config["SECRET_KEY"], stranger.id, resolved["ticket"].id, "confirm")
    assert client.post(f"/tickets/{resolved['ticket'].id}/mail/confirm?t={token}").status_code == 404
    assert client.get(f"/tickets/{resolved['ticket'].id}/mail/delete?t={token}").status_code == 404
    assert status(session, resolved["ticket"].id) == "resolved"


def test_the_post_is_csrf_protected(csrf_app, session, resolved):
    client = csrf_app.test_client()
    assert client.post(resolved["confirm"]).status_code == 400
    assert status(session, resolved["ticket"].id) == "resolved"
    page = client.get(resolved["confirm"]).get_data(as_text=True)
    assert client.post(resolved["confirm"], data={"csrf_token": csrf_token_from(page)}).status_code == 200
    assert status(session, resolved["ticket"].id) == "closed"

"""Chat webhook rules beyond the signature (test client), and the admin page for integrations."""
from __future__ import annotations

import json
import re
import time

import pytest

from kb import chat, ticket_work
from kb.errors import PermissionDenied, ValidationError
from kb.channel_models import ChatConversation, ChatDelivery, ChatIntegration
from kb.tickets import Ticket
from tests.conftest import csrf_token_from

URL = "/api/v1/chat/teams-it/messages"


@pytest.fixture
def secret(session, make_user):
    _, value = chat.create_integration(session, make_user("admin"), slug="teams-it", name="Teams IT")
    session.commit()
    return value


def body_of(message_id="m-1", conversation="c-1", email="ana@example.com", text="Printer offline", **extra):
    return json.dumps({"message_id": message_id, "conversation_id": conversation,
                       "sender": {"email": email, "name": "Ana"}, "text": text, **extra}).encode()


def deliver(client, secret_value, body, content_type="application/json", url=URL):
    ts = str(int(time.time()))
    return client.post(url, data=body, content_type=content_type, headers={
        "X-Helpdesk-Timestamp": ts, "X-Helpdesk-Signature": chat.sign(secret_value, ts, body)})


def test_bad_content_is_400_after_the_signature_and_can_be_resent(client, session, secret):
    resp = deliver(client, secret, body_of(email="not-an-address"))
    assert resp.status_code == 400
    assert resp.get_json()["error"] | {"message": ""} == {"code": "validation_error", "status": 400,
                                                          "field": "sender.email", "message": ""}
    assert deliver(client, secret, b"{broken").get_json()["error"]["code"] == "validation_error"
    assert deliver(client, secret, body_of(text="x" * 20001)).get_json()["error"]["field"] == "description"
    assert deliver(client, secret, body_of(), content_type="text/plain").status_code == 415
    assert session.query(ChatDelivery).count() == 0 and session.query(Ticket).count() == 0
    unsigned_garbage = client.post(URL, data=b"{broken", content_type="application/json")
    assert unsigned_garbage.status_code == 401  # nothing about the payload is told to an unsigned caller
    resp = deliver(client, secret, body_of(title="Floor 3 printer"))  # same message id, fixed: accepted
    assert resp.status_code == 201
    assert session.get(Ticket, resp.get_json()["ticket"]["id"]).title == "Floor 3 printer"


def test_a_closed_conversation_ticket_is_replaced_by_a_new_one(client, session, secret):
    first = deliver(client, secret, body_of("m-1")).get_json()["ticket"]["id"]
    ticket = session.get(Ticket, first)
    ticket_work.cancel(session, ticket.requester, ticket, "Solved by restarting")
    session.commit()
    resp = deliver(client, secret, body_of("m-2", text="It is offline again"))
    assert resp.status_code == 201 and resp.get_json()["action"] == "created"
    second = resp.get_json()["ticket"]["id"]
    assert second != first
    session.expire_all()
    assert session.query(ChatConversation).one().ticket_id == second
    resp = deliver(client, secret, body_of("m-3", text="Thanks"))
    assert (resp.get_json()["action"], resp.get_json()["ticket"]["id"]) == ("appended", second)


def test_another_sender_cannot_write_on_someone_elses_ticket(client, session, secret):
    assert deliver(client, secret, body_of("m-1")).status_code == 201
    resp = deliver(client, secret, body_of("m-2", email="mallory@example.com", text="Close this"))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    assert session.query(ChatDelivery).count() == 1  # the refused one left no trace


def test_inactive_integration_and_oversized_bodies_are_refused(client, session, secret, make_user):
    row = session.query(ChatIntegration).one()
    assert deliver(client, secret, b"x" * (300 * 1024)).status_code == 413
    chat.set_active(session, make_user("admin"), row.id, False)
    session.commit()
    resp = deliver(client, secret, body_of())
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert client.get(URL).status_code == 405


# ------------------------------------------------------------------ /admin/chat
def test_only_admins_manage_integrations(client, make_user, login):
    assert client.get("/admin/chat").status_code == 302  # to the login page
    login(make_user("lead"))
    assert client.get("/admin/chat").status_code == 403
    assert client.post("/admin/chat", data={"slug": "x1", "name": "X"}).status_code == 403


def test_admin_creates_rotates_and_deactivates(csrf_app, client, session, make_user):
    admin = make_user("admin")
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": admin.email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(page)})
    page = client.get("/admin/chat").get_data(as_text=True)
    resp = client.post("/admin/chat", data={"slug": "slack-hq", "name": "Slack HQ",
                                            "csrf_token": csrf_token_from(page)})
    html = resp.get_data(as_text=True)
    first = re.search(r'id="new-secret">([^<]+)<', html).group(1)
    row = session.query(ChatIntegration).filter_by(slug="slack-hq").one()
    assert row.secret == first and "/api/v1/chat/slack-hq/messages" in html
    listing = client.get("/admin/chat").get_data(as_text=True)
    assert first not in listing and "Slack HQ" in listing  # the secret is shown once

    url = "/api/v1/chat/slack-hq/messages"
    assert client.post(f"/admin/chat/{row.id}/rotate").status_code == 400  # CSRF enforced
    resp = client.post(f"/admin/chat/{row.id}/rotate", data={"csrf_token": csrf_token_from(listing)})
    second = re.search(r'id="new-secret">([^<]+)<', resp.get_data(as_text=True)).group(1)
    assert second != first
    assert deliver(client, first, body_of("m-1"), url=url).status_code == 401
    assert deliver(client, second, body_of("m-2"), url=url).status_code == 201  # webhook needs no CSRF token

    dup = client.post("/admin/chat", data={"slug": "slack-hq", "name": "Again", "csrf_token": csrf_token_from(listing)})
    assert dup.status_code == 400 and "already exists" in dup.get_data(as_text=True)
    client.post(f"/admin/chat/{row.id}/active", data={"active": "0", "csrf_token": csrf_token_from(listing)})
    assert deliver(client, second, body_of("m-3"), url=url).status_code == 401


@pytest.mark.parametrize("sent_at, ok", [("2026-01-05T10:00:00Z", True), (1767607200, True), ("yesterday", False),
                                         (True, False)])
def test_sent_at_is_checked_but_informational(client, secret, sent_at, ok):
    resp = deliver(client, secret, body_of(sent_at=sent_at))
    assert resp.status_code == (201 if ok else 400)
    if not ok:
        assert resp.get_json()["error"]["field"] == "sent_at"


def test_integration_services_are_for_admins_only(session, make_user):
    for role in ("requester", "agent", "lead"):
        with pytest.raises(PermissionDenied):
            chat.create_integration(session, make_user(role), slug="x-1", name="X")
    with pytest.raises(ValidationError) as exc:
        chat.create_integration(session, make_user("admin"), slug="Bad Slug!", name="X")
    assert exc.value.field == "slug"

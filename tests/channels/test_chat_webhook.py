"""The signed chat webhook, end to end over a real HTTP server on loopback: a signed message
opens a ticket, the next one is added to it, and unsigned, wrongly signed, stale or
replayed deliveries are refused with 401 and leave nothing behind."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from werkzeug.serving import make_server

from kb import chat
from kb.channel_models import ChatConversation, ChatDelivery
from kb.ticket_messages import TicketMessage
from kb.tickets import Ticket
from kb.users import User


@pytest.fixture
def integration(session, make_user):
    row, secret = chat.create_integration(session, make_user("admin"), slug="teams-it", name="Teams IT")
    session.commit()
    return row, secret


@pytest.fixture
def server(app):
    """The app behind a real WSGI server on 127.0.0.1 (a free port), in a thread."""
    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def send(server, session):
    return lambda body, headers, slug="teams-it": post(server, body, headers, slug, session=session)


def payload(message_id: str, text: str = "The VPN drops every ten minutes.", conversation: str = "c-42",
            email: str = "ana@example.com", **extra) -> bytes:
    data = {"message_id": message_id, "conversation_id": conversation,
            "sender": {"email": email, "name": "Ana Lima"}, "text": text, **extra}
    return json.dumps(data).encode()


def signed_headers(secret: str, body: bytes, ts: int | None = None) -> dict:
    stamp = str(int(time.time()) if ts is None else ts)
    return {"Content-Type": "application/json", "X-Helpdesk-Timestamp": stamp,
            "X-Helpdesk-Signature": chat.sign(secret, stamp, body)}


def post(base: str, body: bytes, headers: dict, slug: str = "teams-it", *, session=None) -> tuple[int, dict]:
    """POST like a platform would. The test's own transaction is ended first: with SQLite's
    BEGIN IMMEDIATE even a read transaction would keep the server from writing."""
    if session is not None:
        session.rollback()
    req = urllib.request.Request(f"{base}/api/v1/chat/{slug}/messages", data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def counts(session) -> tuple[int, ...]:
    session.rollback()  # see what the server thread committed
    return tuple(session.query(m).count() for m in (Ticket, TicketMessage, ChatDelivery, ChatConversation, User))


def test_signed_messages_open_then_continue_a_ticket_and_forgeries_are_refused(send, session, integration):
    _, secret = integration
    first = payload("m-1")
    status, data = send(first, signed_headers(secret, first))
    assert status == 201, data
    assert data["action"] == "created" and data["ticket"]["reference"].startswith("HD-")
    session.rollback()
    ticket = session.get(Ticket, data["ticket"]["id"])
    assert ticket.channel == "chat" and ticket.title == "The VPN drops every ten minutes."
    assert ticket.requester.email == "ana@example.com" and ticket.requester.is_contact
    assert data["ticket"]["url"].endswith(f"/tickets/{ticket.id}")

    second = payload("m-2", text="Now it does not connect at all.")
    status, data = send(second, signed_headers(secret, second))
    assert (status, data["action"], data["ticket"]["id"]) == (201, "appended", ticket.id)
    session.rollback()
    bodies = [m.body for m in session.query(TicketMessage).filter_by(ticket_id=ticket.id)]
    assert bodies == ["Now it does not connect at all."]
    before = counts(session)

    third = payload("m-3", text="Forged")
    refused = {
        "unsigned": send(third, {}),
        "bad signature": send(third, signed_headers("not-the-secret", third)),
        "tampered body": send(third.replace(b"Forged", b"Forgex"), signed_headers(secret, third)),
        "replay": send(second, signed_headers(secret, second)),  # same id, fresh timestamp
        "stale": send(third, signed_headers(secret, third, ts=int(time.time()) - 301)),
        "future": send(third, signed_headers(secret, third, ts=int(time.time()) + 301)),
        "unknown integration": send(third, signed_headers(secret, third), slug="nope"),
    }
    for case, (status, data) in refused.items():
        assert status == 401, case
        assert data["error"]["code"] == "unauthorized" and data["error"]["message"], case
    assert "replay" in refused["replay"][1]["error"]["message"]
    assert counts(session) == before  # nothing was created by the refused ones

    status, data = send(third, signed_headers(secret, third))  # the same message, properly signed
    assert (status, data["action"]) == (201, "appended")


def test_the_documented_openssl_recipe_signs_like_the_server(integration):
    _, secret = integration
    body, ts = payload("m-9").decode(), "1767225600"
    out = subprocess.run(["sh", "-c", 'printf "%s.%s" "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET"'
                          " | sed 's/^.* //'"], env={"TS": ts, "BODY": body, "SECRET": secret, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True)
    assert "sha256=" + out.stdout.strip() == chat.sign(secret, ts, body.encode())

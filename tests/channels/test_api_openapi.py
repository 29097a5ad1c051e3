"""The OpenAPI document is valid, covers every /api/v1 route, and describes what the API
really returns; the docs page is rendered from it without anything from the internet."""
from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from kb.api_tokens import create_token
from kb.tickets import create_ticket


@pytest.fixture
def spec(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def conforms(spec: dict, name: str, instance) -> None:
    """Validate a real response against a component schema (refs resolved inside the document)."""
    root = {**spec, "$ref": f"#/components/schemas/{name}"}
    errors = sorted(Draft202012Validator(root).iter_errors(instance), key=str)
    assert not errors, [e.message for e in errors]


def test_document_is_valid_openapi(spec):
    validate(spec)  # raises on an invalid document
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_api_route_is_documented(app, spec):
    missing = []
    seen = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            seen += 1
            if method.lower() not in spec["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert seen >= 7 and not missing, missing
    documented = {(p, m) for p, item in spec["paths"].items() for m in item}
    assert len(documented) == seen  # nothing documented that does not exist


def test_real_responses_match_the_schemas(client, session, make_user, spec):
    user, agent = make_user(), make_user("agent")
    _, plaintext = create_token(session, user, "t")
    ticket = create_ticket(session, user, title="Mouse", description="Broken wheel")
    session.commit()
    from kb import ticket_work
    ticket_work.reply(session, agent, ticket, "On our way.")
    session.commit()
    auth = {"Authorization": f"Bearer {plaintext}"}
    conforms(spec, "TicketPage", client.get("/api/v1/tickets", headers=auth).get_json())
    conforms(spec, "TicketDetailEnvelope", client.get(f"/api/v1/tickets/{ticket.id}", headers=auth).get_json())
    created = client.post("/api/v1/tickets", headers=auth, json={"title": "t", "description": "d"}).get_json()
    conforms(spec, "TicketEnvelope", created)
    conforms(spec, "ReplyCreated", client.post(f"/api/v1/tickets/{ticket.id}/replies", headers=auth,
                                               json={"body": "thanks"}).get_json())
    conforms(spec, "Error", client.get("/api/v1/tickets/0", headers=auth).get_json())
    conforms(spec, "Error", client.post("/api/v1/tickets", headers=auth, json={"x": 1}).get_json())
    with pytest.raises(AssertionError):  # the check itself can fail
        conforms(spec, "Error", {"error": {"message": "no code"}})


def test_docs_page_lists_everything_and_loads_nothing_remote(client, spec):
    resp = client.get("/api/docs")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    for path, item in spec["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in html
    for text in ("Authorization: Bearer", "validation_error", "rate_limited", "per_page", "X-Helpdesk-Signature",
                 "X-Helpdesk-Timestamp", "conversation_id", "sender.email", "openssl dgst -sha256 -hmac",
                 "hmac.new(", "/openapi.json"):
        assert text in html, text
    assert not re.search(r"""(src|href)=["']https?://""", html)  # offline: no CDN, no external assets

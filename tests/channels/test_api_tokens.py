"""Personal API tokens: only a hash is stored, the owner alone lists and revokes them, and
a revoked token or a deactivated owner stops working at once."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from kb.api_tokens import authenticate_token, create_token, list_tokens, revoke_token
from kb.channel_models import ApiToken
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from tests.conftest import csrf_token_from


def test_created_token_is_shown_once_and_stored_as_a_hash(session, make_user):
    user = make_user()
    token, plaintext = create_token(session, user, "  monitoring ")
    session.commit()
    assert plaintext.startswith("hdk_") and len(plaintext) > 40
    assert token.name == "monitoring"
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert token.prefix == plaintext[:12]
    stored = session.get(ApiToken, token.id)
    assert plaintext not in (stored.token_hash, stored.prefix, stored.name)
    assert authenticate_token(session, plaintext).id == user.id


def test_name_is_required(session, make_user):
    with pytest.raises(ValidationError) as exc:
        create_token(session, make_user(), "   ")
    assert exc.value.field == "name"


def test_wrong_revoked_and_deactivated_tokens_fail(session, make_user):
    user = make_user()
    _, plaintext = create_token(session, user, "a")
    token_b, plaintext_b = create_token(session, user, "b")
    session.commit()
    assert authenticate_token(session, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert authenticate_token(session, plaintext[4:]) is None  # without the prefix
    assert authenticate_token(session, "") is None and authenticate_token(session, None) is None
    revoke_token(session, user, token_b.id)
    session.commit()
    assert authenticate_token(session, plaintext_b) is None
    assert authenticate_token(session, plaintext) is not None
    user.active = False
    session.commit()
    assert authenticate_token(session, plaintext) is None


def test_last_used_is_written_at_most_once_a_minute(session, make_user):
    user = make_user()
    token, plaintext = create_token(session, user, "a")
    t0 = utcnow()
    authenticate_token(session, plaintext, now=t0)
    assert token.last_used_at == t0
    authenticate_token(session, plaintext, now=t0 + timedelta(seconds=30))
    assert token.last_used_at == t0
    authenticate_token(session, plaintext, now=t0 + timedelta(seconds=61))
    assert token.last_used_at == t0 + timedelta(seconds=61)


def test_only_the_owner_lists_and_revokes(session, make_user):
    owner, other = make_user(), make_user()
    token, _ = create_token(session, owner, "mine")
    create_token(session, other, "theirs")
    session.commit()
    assert [t.name for t in list_tokens(session, owner)] == ["mine"]
    with pytest.raises(NotFound):
        revoke_token(session, other, token.id)
    with pytest.raises(NotFound):
        revoke_token(session, owner, 999999)
    assert token.revoked_at is None


# ------------------------------------------------------------------ the page
def test_tokens_page_needs_login(client):
    resp = client.get("/account/tokens")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_page_creates_shows_once_and_revokes_with_csrf(csrf_app, client, session, make_user):
    user = make_user()
    html = client.get("/login").get_data(as_text=True)
    resp = client.post("/login", data={"email": user.email, "password": "correct-horse-battery",
                                       "csrf_token": csrf_token_from(html)})
    assert resp.status_code == 302
    page = client.get("/account/tokens").get_data(as_text=True)
    resp = client.post("/account/tokens", data={"name": "laptop script", "csrf_token": csrf_token_from(page)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    token = session.query(ApiToken).filter_by(user_id=user.id).one()
    start = html.index('id="new-token">') + len('id="new-token">')
    plaintext = html[start:html.index("<", start)]
    assert plaintext.startswith("hdk_") and token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert resp.headers["Cache-Control"] == "no-store"
    again = client.get("/account/tokens").get_data(as_text=True)
    assert plaintext not in again and token.prefix in again  # shown once, recognisable afterwards
    api = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {plaintext}"})
    assert api.status_code == 200

    refused = client.post(f"/account/tokens/{token.id}/revoke")  # no CSRF token
    assert refused.status_code == 400
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is None
    resp = client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": csrf_token_from(again)})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is not None
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    assert "Revoked" in client.get("/account/tokens").get_data(as_text=True)


def test_cannot_revoke_someone_elses_token_from_the_page(client, session, make_user, login):
    owner, intruder = make_user(), make_user()
    token, plaintext = create_token(session, owner, "mine")
    session.commit()
    login(intruder)
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is None
    assert "mine" not in client.get("/account/tokens").get_data(as_text=True)


def test_empty_name_is_refused_on_the_page(client, make_user, login, session):
    login(make_user())
    resp = client.post("/account/tokens", data={"name": ""})
    assert resp.status_code == 400
    assert session.query(ApiToken).count() == 0

"""Bearer-token authentication for /api/v1: the token alone says who is calling.

The browser session is deliberately ignored (the API is CSRF-exempt, so a cookie must not
be enough to act), and nothing here logs anyone in or writes the session cookie.
"""
from __future__ import annotations

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from kb.api_tokens import authenticate_token, hash_token
from kb.users import User
from portal.api.errors import ApiError
from portal.extensions import db

DEFAULT_RATE_LIMIT = "300 per minute"


def bearer_token() -> str | None:
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def authenticate() -> None:
    """before_request of the API blueprint: 401 unless a valid token is presented."""
    token = bearer_token()
    if token is None:
        raise ApiError(401, _("Send your API token in the header “Authorization: Bearer hdk_…”. "
                              "Create one on the API tokens page of your account."))
    user = authenticate_token(db.session, token)
    if user is None:
        raise ApiError(401, _("This API token is not valid: it is wrong, revoked, or its owner is deactivated."),
                       headers={"WWW-Authenticate": 'Bearer realm="helpdesk-api", error="invalid_token"'})
    db.session.commit()  # last_used_at, written at most once a minute
    g.api_user = user


def api_actor() -> User:
    return g.api_user


def rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def rate_key() -> str:
    """Per token (a digest, never the token itself), else per address."""
    token = bearer_token()
    return "api-token:" + hash_token(token)[:32] if token else "api-ip:" + (get_remote_address() or "")

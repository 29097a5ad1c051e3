"""Personal API tokens: how an integration acts as one person through the JSON API.

A token is shown to its owner once; only its SHA-256 is stored, so a leaked database does
not leak working tokens. Looking a token up by its hash (a unique index) compares no
secret byte by byte, so response times say nothing about how much of a guess was right.
A token carries exactly its owner's rights (every check still goes through
:mod:`kb.permissions`) and stops working when it is revoked or the owner is deactivated.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.channel_models import ApiToken
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.users import User
from kb.validation import clean_text

TOKEN_PREFIX = "hdk_"
PREFIX_SHOWN = 12            # "hdk_" and 8 characters: enough to recognise a token in the list
NAME_MAX = 80
MAX_ACTIVE_TOKENS = 20       # a person rarely needs more; a runaway script should not mint thousands
TOKEN_MAX_CHARS = 100        # longer Authorization values are refused before hashing
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often (one write, not one per call)


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_token(session: Session, actor: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``actor``; returns ``(row, plaintext)``. The plaintext is not kept."""
    permissions.require(permissions.can_use_api_tokens(actor), "Log in to create an API token.")
    name = clean_text(name, field="name", limit=NAME_MAX, label="name",
                      missing="Give the token a name, e.g. the script or system that uses it.")
    active = session.scalar(select(func.count()).select_from(ApiToken)
                            .where(ApiToken.user_id == actor.id, ApiToken.revoked_at.is_(None)))
    if active >= MAX_ACTIVE_TOKENS:
        raise ValidationError(f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no longer use.",
                              "name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=actor.id, name=name, token_hash=hash_token(plaintext),
                     prefix=plaintext[:PREFIX_SHOWN], created_at=utcnow())
    session.add(token)
    session.flush()
    return token, plaintext


def list_tokens(session: Session, actor: User) -> list[ApiToken]:
    """The actor's own tokens, newest first, revoked ones included (for the record)."""
    if not permissions.can_use_api_tokens(actor):
        return []
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == actor.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, actor: User, token_id: int, *, now: datetime | None = None) -> ApiToken:
    """Revoke one of the actor's own tokens; someone else's is NotFound (no hint it exists).
    Revoking twice is harmless."""
    token = session.get(ApiToken, token_id)
    if token is None or actor is None or token.user_id != actor.id:
        raise NotFound("We could not find that token.")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.flush()
    return token


def authenticate_token(session: Session, plaintext: str | None, *, now: datetime | None = None) -> User | None:
    """The active owner of this unrevoked token, or None. Records when it was last used
    (flushes; the caller commits)."""
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > TOKEN_MAX_CHARS:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext)))
    if token is None or token.revoked_at is not None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
        session.flush()
    return user

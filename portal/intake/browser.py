"""Which intake sessions this browser may write: their tokens live in the signed Flask session.

Only the browser that was given a token can record queries, opens or an outcome
with it, so knowing (or guessing) someone's token is not enough.
"""
from __future__ import annotations

from flask import session

from kb.intake import new_token, valid_token

KEY = "intake_tokens"
KEEP = 20  # tabs and page views a browser may have open at once


def issue() -> str:
    token = new_token()
    tokens = [t for t in session.get(KEY, []) if valid_token(t)][-(KEEP - 1):]
    session[KEY] = tokens + [token]
    return token


def owns(token: str | None) -> bool:
    return valid_token(token) and token in session.get(KEY, [])

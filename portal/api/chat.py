"""POST /api/v1/chat/<slug>/messages: the signed webhook messaging platforms call.

The signature is checked on the raw bytes before the JSON is even parsed, so an unsigned
or tampered request learns nothing about what a valid payload looks like. The rules
(headers, skew, replay, binding a conversation to its ticket) live in :mod:`kb.chat`.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import IntegrityError

from kb import chat
from portal.api import errors
from portal.api.auth import rate_limit
from portal.api.common import embedder, public_url
from portal.extensions import csrf, db, limiter

bp = Blueprint("api_chat", __name__, url_prefix="/api/v1/chat")
csrf.exempt(bp)
errors.install(bp)
MAX_BODY_BYTES = 256 * 1024  # a chat message is text; the ticket description is capped at 20,000 characters
TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-Helpdesk-Timestamp", "X-Helpdesk-Signature"


def _rate_key() -> str:
    """Per integration and sending address: junk from elsewhere cannot use up a platform's allowance."""
    return f"chat:{str((request.view_args or {}).get('slug', ''))[:40]}:{get_remote_address()}"


limiter.limit(rate_limit, key_func=_rate_key)(bp)


def _receive(slug: str, body: bytes):
    integration = chat.verify_request(db.session, slug, request.headers.get(TIMESTAMP_HEADER),
                                      request.headers.get(SIGNATURE_HEADER), body,
                                      max_skew=current_app.config["CHAT_MAX_SKEW_SECONDS"])
    # Only once the sender is proven: the content type (415) and the payload (400).
    if request.mimetype != "application/json":
        raise errors.ApiError(415)
    message = chat.parse_message(body)
    return chat.receive_message(db.session, integration, message, embedder=embedder())


@bp.post("/<slug>/messages")
def receive(slug: str):
    request.max_content_length = MAX_BODY_BYTES  # larger bodies: 413 before anything is read
    body = request.get_data(cache=True)
    for attempt in (1, 2):
        try:
            ticket, action = _receive(slug, body)
            db.session.commit()
            break
        except IntegrityError:
            # Two deliveries raced (the same message id, or two first messages of one
            # conversation): retry once; the loser then sees a replay or the existing binding.
            db.session.rollback()
            if attempt == 2:
                raise
        except Exception:
            db.session.rollback()  # nothing half-done: the delivery row goes with the failed change
            raise
    response = jsonify({"ticket": {"id": ticket.id, "reference": ticket.reference,
                                   "url": public_url(url_for("tickets.view", ticket_id=ticket.id))},
                        "action": action})
    response.status_code = 201
    return response


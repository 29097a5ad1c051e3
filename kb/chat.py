"""The chat channel: messaging platforms post signed messages that open or continue tickets.

Trust comes from the signature alone: whoever holds an integration's secret can file
tickets and add replies as any sender address, so only admins manage integrations
(:func:`kb.permissions.can_manage_integrations`) and see a secret, once.

A request is accepted when, in this order: the integration exists and is active; the
timestamp and signature headers are present; the timestamp is within ``max_skew`` seconds
of now (an old capture cannot be replayed later); the HMAC-SHA256 of ``"<timestamp>." +
body`` matches (compared in constant time); and the payload's ``message_id`` was never
accepted before (a capture replayed within the window is refused too). Anything else
raises :class:`SignatureRefused` (HTTP 401). The delivery row is written in the same
transaction as the ticket change, so a message refused for bad content (400) can be sent
again once fixed.

The first message of a conversation opens a ticket (channel ``chat``) for the sender and
binds the conversation to it; later ones are replies on that ticket. When the bound ticket
is closed, cancelled or merged, the next message opens a new ticket and the conversation
is bound to that one instead.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import permissions
from kb.channel_models import ChatConversation, ChatDelivery, ChatIntegration
from kb.contacts import find_or_create_contact
from kb.db import utcnow
from kb.errors import KBError, NotFound, PermissionDenied, ValidationError
from kb.ticket_flow import TERMINAL_STATUSES
from kb.tickets import TITLE_MAX, Ticket, create_ticket
from kb.users import EMAIL_RE

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
NAME_MAX = 80
ID_MAX = 200
TITLE_FROM_TEXT = 80
SIGNATURE_PREFIX = "sha256="


class SignatureRefused(KBError):
    """The request is not provably from the integration, or is a replay (HTTP 401)."""


# --- administration -------------------------------------------------------------------

def _require_admin(actor) -> None:
    permissions.require(permissions.can_manage_integrations(actor), "Only admins can manage chat integrations.")


def list_integrations(session: Session, actor) -> list[ChatIntegration]:
    _require_admin(actor)
    return list(session.scalars(select(ChatIntegration).order_by(ChatIntegration.slug)))


def get_integration(session: Session, actor, integration_id: int) -> ChatIntegration:
    _require_admin(actor)
    row = session.get(ChatIntegration, integration_id)
    if row is None:
        raise NotFound("We could not find that integration.")
    return row


def create_integration(session: Session, actor, *, slug: str, name: str) -> tuple[ChatIntegration, str]:
    """A new integration and its generated secret ``(row, secret)``, shown to the admin once."""
    _require_admin(actor)
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationError("The slug takes 2 to 40 lowercase letters, digits and dashes, e.g. “teams-it”.", "slug")
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Enter a name, e.g. the platform and workspace.", "name")
    if len(name) > NAME_MAX:
        raise ValidationError(f"The name can have at most {NAME_MAX} characters.", "name")
    if session.scalar(select(ChatIntegration.id).where(ChatIntegration.slug == slug)) is not None:
        raise ValidationError("An integration with this slug already exists.", "slug")
    secret = secrets.token_urlsafe(32)
    row = ChatIntegration(slug=slug, name=name, secret=secret, active=True, created_at=utcnow())
    session.add(row)
    session.flush()
    return row, secret


def rotate_secret(session: Session, actor, integration_id: int) -> tuple[ChatIntegration, str]:
    """A new secret; the old one stops working at once (update the platform right away)."""
    row = get_integration(session, actor, integration_id)
    row.secret = secrets.token_urlsafe(32)
    session.flush()
    return row, row.secret


def set_active(session: Session, actor, integration_id: int, active: bool) -> ChatIntegration:
    """Deactivate (every request refused, history kept) or reactivate an integration."""
    row = get_integration(session, actor, integration_id)
    row.active = bool(active)
    session.flush()
    return row


# --- verifying a request --------------------------------------------------------------

def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value a platform sends: ``sha256=<hex HMAC of "<timestamp>." + body>``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_request(session: Session, slug: str, timestamp: str | None, signature: str | None, body: bytes, *,
                   max_skew: int, now: datetime | None = None) -> ChatIntegration:
    """The integration this request provably comes from; SignatureRefused otherwise."""
    row = session.scalar(select(ChatIntegration).where(ChatIntegration.slug == slug))
    if row is None or not row.active:
        raise SignatureRefused("Unknown or inactive chat integration.")
    if not timestamp or not signature:
        raise SignatureRefused("The X-Helpdesk-Timestamp and X-Helpdesk-Signature headers are required.")
    timestamp = timestamp.strip()
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRefused("X-Helpdesk-Timestamp must be the Unix time in whole seconds.")
    expected = sign(row.secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        raise SignatureRefused("The signature does not match the body and timestamp.")
    now = now or utcnow()
    if abs(now.timestamp() - int(timestamp)) > max_skew:
        raise SignatureRefused(f"The timestamp is more than {max_skew} seconds away from the server's clock.")
    return row


# --- the payload ----------------------------------------------------------------------

@dataclass(frozen=True)
class ChatMessage:
    message_id: str
    conversation_id: str
    sender_email: str
    sender_name: str
    text: str
    title: str | None = None
    sent_at: datetime | None = None  # informational; the server's clock drives SLAs


def _string(data: dict, key: str, *, required: bool = True, limit: int = ID_MAX) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"“{key}” must be a non-empty string.", key)
    if len(value) > limit:
        raise ValidationError(f"“{key}” can have at most {limit} characters.", key)
    return value.strip()


def _sent_at(value) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    raise ValidationError("“sent_at” must be an ISO 8601 date-time or a Unix time.", "sent_at")


def parse_message(body: bytes) -> ChatMessage:
    """The payload as a ChatMessage; ValidationError (naming the field) when it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.")
    sender = data.get("sender")
    if not isinstance(sender, dict):
        raise ValidationError("“sender” must be an object with an “email”.", "sender")
    email = sender.get("email")
    if not isinstance(email, str) or len(email.strip()) > 254 or not EMAIL_RE.match(email.strip()):
        raise ValidationError("“sender.email” must be the sender's email address.", "sender.email")
    name = sender.get("name")
    if name is not None and not isinstance(name, str):
        raise ValidationError("“sender.name” must be a string.", "sender.name")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("“text” must be the message text.", "text")
    return ChatMessage(message_id=_string(data, "message_id"), conversation_id=_string(data, "conversation_id"),
                       sender_email=email.strip(), sender_name=(name or "").strip(), text=text,
                       title=_string(data, "title", required=False, limit=TITLE_MAX) or None,
                       sent_at=_sent_at(data.get("sent_at")))


# --- turning a message into a ticket change -------------------------------------------

def _title_from(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= TITLE_FROM_TEXT else first[: TITLE_FROM_TEXT - 1].rstrip() + "…"


def _record_delivery(session: Session, integration: ChatIntegration, message: ChatMessage, now: datetime) -> None:
    seen = session.scalar(select(ChatDelivery.id).where(ChatDelivery.integration_id == integration.id,
                                                        ChatDelivery.delivery_id == message.message_id))
    if seen is not None:
        raise SignatureRefused("This message was already delivered (replay refused).")
    session.add(ChatDelivery(integration_id=integration.id, delivery_id=message.message_id, received_at=now))
    session.flush()


def receive_message(session: Session, integration: ChatIntegration, message: ChatMessage, *, embedder=None,
                    now: datetime | None = None) -> tuple[Ticket, str]:
    """Open or continue the conversation's ticket; returns ``(ticket, "created" | "appended")``.

    Call after :func:`verify_request`. Raises SignatureRefused for a replayed message id,
    ValidationError for bad content, PermissionDenied when the sender may not write on
    the bound ticket (someone else's: only its requester and followers may)."""
    from kb.ticket_work import reply

    now = now or utcnow()
    _record_delivery(session, integration, message, now)
    sender, _ = find_or_create_contact(session, message.sender_email, message.sender_name)
    if not sender.is_active:
        raise PermissionDenied("The sender's account is deactivated.")
    binding = session.scalar(select(ChatConversation).where(
        ChatConversation.integration_id == integration.id,
        ChatConversation.conversation_id == message.conversation_id))
    ticket = session.get(Ticket, binding.ticket_id) if binding is not None else None
    if ticket is not None and ticket.status not in TERMINAL_STATUSES:
        if sender.id != ticket.requester_id and sender.id not in ticket.follower_ids:
            raise PermissionDenied("This conversation belongs to another person's ticket.")
        reply(session, sender, ticket, message.text, now=now)
        return ticket, "appended"
    ticket = create_ticket(session, sender, title=message.title or _title_from(message.text),
                           description=message.text, channel="chat", embedder=embedder, now=now)
    if binding is None:
        session.add(ChatConversation(integration_id=integration.id, conversation_id=message.conversation_id,
                                     ticket_id=ticket.id, created_at=now))
    else:
        binding.ticket_id = ticket.id
    session.flush()
    return ticket, "created"

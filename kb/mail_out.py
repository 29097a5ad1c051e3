"""Outgoing mail, part one: the outbox. A notification by email is a row in
``outbound_email`` written in the same transaction as the change it reports, so a
committed reply always has its mail and a rolled-back one never does. Sending (SMTP,
retries) is :mod:`kb.mail_send`.
"""
from __future__ import annotations

import json
import re
import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from kb.channel_models import OutboundEmail
from kb.db import utcnow

SUBJECT_MAX = 300
# Our Message-IDs: hd.<ticket id>.<ticket email token>.<random>@<mail domain>. A reply's
# In-Reply-To / References carry it back, and with it the ticket's token (kb.mail_in).
MESSAGE_ID_RE = re.compile(r"hd\.(\d+)\.([0-9a-f]{10})\.[0-9a-f]+@", re.I)

SUBJECTS = {
    "received": "We received your request",
    "acknowledged": "Your request was accepted",
    "question": "We need something from you",
    "reply": "New reply",
    "resolved": "Your request was resolved",
    "survey": "How did we do?",
    "update": "Update on a request you follow",
    "assigned": "Assigned to you",
    "reopened": "Reopened",
    "cancelled": "Withdrawn",
    "collaborator": "Your help is asked for",
    "sla_reminder": "SLA reminder",
    "sla_escalation": "SLA escalation",
    "auto_closed": "Closed automatically",
}


def message_id_local(ticket=None) -> str:
    """The part of a Message-ID before the ``@`` (the sender adds the mail domain)."""
    rand = secrets.token_hex(8)
    if ticket is None:
        return f"hd.0.{'0' * 10}.{rand}"
    return f"hd.{ticket.id}.{ticket.email_token}.{rand}"


def subject_for(kind: str, ticket=None, text: str = "") -> str:
    """``[HD-2026-000123:token] title`` for ticket mail, so a reply threads back."""
    if ticket is not None:
        subject = f"{SUBJECTS.get(kind, 'Update')}: {ticket.title} {ticket.mail_tag}"
    else:
        subject = SUBJECTS.get(kind) or (text.splitlines() or ["Helpdesk"])[0]
    return " ".join(subject.split())[:SUBJECT_MAX]


def recipient(user, ticket=None) -> str:
    """The requester's contact address for their own ticket; the account address otherwise."""
    if ticket is not None and ticket.requester_id == user.id and ticket.contact_email:
        return ticket.contact_email
    return user.email


def enqueue(session: Session, *, user, kind: str, text: str, body: str | None = None, ticket=None,
            links=None, now: datetime | None = None) -> OutboundEmail:
    """Put one mail in the outbox (flushes, never commits)."""
    now = now or utcnow()
    full = text.strip()
    if body:
        full += "\n\n" + body.strip()
    mail = OutboundEmail(user_id=user.id, ticket_id=getattr(ticket, "id", None), kind=kind,
                         to_addr=recipient(user, ticket), subject=subject_for(kind, ticket, text), body=full,
                         links=json.dumps([{"label": label, "path": path} for label, path in (links or [])]),
                         message_id=message_id_local(ticket), status="pending", attempts=0,
                         next_attempt_at=now, created_at=now)
    session.add(mail)
    session.flush()
    return mail

"""Outgoing mail, part one: the outbox. A notification by email is a row in
``outbound_email`` written in the same transaction as the change it reports, so a
committed reply always has its mail and a rolled-back one never does. Sending (SMTP,
retries) is :mod:`kb.mail_send`; listing the outbox and retrying failed mail (admins) is here.
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.channel_models import OUTBOX_STATUSES, OutboundEmail
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.pagination import Paged

SUBJECT_MAX = 300
MAX_PER_PAGE = 100
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
            links=None, html: str | None = None, attachments=None, now: datetime | None = None) -> OutboundEmail:
    """Put one mail in the outbox (flushes, never commits). ``html`` replaces the escaped
    HTML twin of the text; ``attachments`` are ``(filename, content type, text)``."""
    now = now or utcnow()
    full = text.strip()
    if body:
        full += "\n\n" + body.strip()
    mail = OutboundEmail(user_id=user.id, ticket_id=getattr(ticket, "id", None), kind=kind,
                         to_addr=recipient(user, ticket), subject=subject_for(kind, ticket, text), body=full,
                         links=json.dumps([{"label": label, "path": path} for label, path in (links or [])]),
                         html=html, attachments=json.dumps([{"filename": n, "content_type": t, "content": c}
                                                            for n, t, c in attachments]) if attachments else None,
                         message_id=message_id_local(ticket), status="pending", attempts=0,
                         next_attempt_at=now, created_at=now)
    session.add(mail)
    session.flush()
    return mail


@dataclass(frozen=True)
class OutboxPage(Paged):
    items: list[OutboundEmail]
    page: int
    per_page: int
    total: int


def _require_admin(actor, system: bool) -> None:
    if not system:  # the command line is trusted
        permissions.require(permissions.can_manage_mail(actor), "Only admins manage the outbox.")


def list_outbox(session: Session, actor, *, status: str | None = None, page: int = 1,
                per_page: int = 25, system: bool = False) -> OutboxPage:
    """The outbox for admins (or ``system``: the command line), newest first; ``status``
    one of OUTBOX_STATUSES or None for all."""
    _require_admin(actor, system)
    if status is not None and status not in OUTBOX_STATUSES:
        raise ValidationError("Unknown mail status.", "status")
    try:
        page = max(int(page or 1), 1)
        per_page = min(max(int(per_page or 25), 1), MAX_PER_PAGE)
    except (TypeError, ValueError):
        raise ValidationError("The page must be a number.", "page") from None
    conds = [OutboundEmail.status == status] if status else []
    total = session.scalar(select(func.count()).select_from(OutboundEmail).where(*conds)) or 0
    items = list(session.scalars(select(OutboundEmail).where(*conds)
                                 .order_by(OutboundEmail.created_at.desc(), OutboundEmail.id.desc())
                                 .offset((page - 1) * per_page).limit(per_page)))
    return OutboxPage(items, page, per_page, total)


def outbox_counts(session: Session, actor) -> dict[str, int]:
    """How many mails are pending, sent and failed (for the filter tabs)."""
    _require_admin(actor, False)
    counts = dict(session.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status)).all())
    return {s: counts.get(s, 0) for s in OUTBOX_STATUSES}


def retry_failed(session: Session, actor, ids, *, now: datetime | None = None, system: bool = False) -> int:
    """Put failed mails back in the queue, due now, with a fresh set of attempts; ``ids``
    is a list of ids or ``"all"`` (every failed mail). Admins only, or ``system=True`` for
    the command line. Unknown, sent or still queued ids change nothing and raise (a queued
    one may be in a sender's hands right now: making it due again could send it twice)."""
    _require_admin(actor, system)
    now = now or utcnow()
    if ids == "all":
        rows = list(session.scalars(select(OutboundEmail).where(OutboundEmail.status == "failed")))
    else:
        try:
            wanted = sorted({int(i) for i in ids})
        except (TypeError, ValueError):
            raise ValidationError("Mail ids are numbers.", "ids") from None
        rows = list(session.scalars(select(OutboundEmail).where(OutboundEmail.id.in_(wanted))))
        missing = set(wanted) - {r.id for r in rows}
        if missing:
            raise NotFound(f"No mail with id {min(missing)}.")
        for row in rows:
            if row.status == "sent":
                raise ValidationError(f"Mail {row.id} was already sent.", "ids")
            if row.status != "failed":
                raise ValidationError(f"Mail {row.id} is still queued; it is tried again on its own.", "ids")
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    session.flush()
    return len(rows)

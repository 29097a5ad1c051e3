"""The inbox log and quarantine, for admins: what the intake did with each message, the raw
message of a quarantined or refused one, "dealt with", and taking one in again (after a
limit was raised, or the sender was added to the ticket).

Admins only (:func:`kb.permissions.can_manage_mail`): the log shows everyone's addresses,
and a raw message may hold anything its sender put in it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.channel_models import INBOX_STATUSES, InboundEmail
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.mail_in import MailSettings, Outcome, process_message, raw_file
from kb.pagination import Paged

ATTENTION = "attention"  # quarantined or refused, and nobody has dealt with it yet
FILTERS = (ATTENTION, *INBOX_STATUSES)
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class InboxPage(Paged):
    items: list[InboundEmail]
    page: int
    per_page: int
    total: int


def _require(actor) -> None:
    permissions.require(permissions.can_manage_mail(actor), "Only admins can see incoming mail.")


def _conditions(status: str | None) -> list:
    if not status:
        return []
    if status == ATTENTION:
        return [InboundEmail.status.in_(("quarantined", "refused")), InboundEmail.released_at.is_(None)]
    if status not in INBOX_STATUSES:
        raise ValidationError(f"Unknown status {status!r}; one of {', '.join(FILTERS)}.", "status")
    return [InboundEmail.status == status]


def list_inbound(session: Session, actor, *, status: str | None = None, page: int = 1,
                 per_page: int = 25) -> InboxPage:
    """Newest first; a page past the end is empty."""
    _require(actor)
    try:
        page = max(int(page or 1), 1)
        per_page = min(max(int(per_page or 25), 1), MAX_PER_PAGE)
    except (TypeError, ValueError):
        raise ValidationError("The page must be a number.", "page") from None
    conds = _conditions(status)
    total = session.scalar(select(func.count()).select_from(InboundEmail).where(*conds)) or 0
    items = list(session.scalars(select(InboundEmail).where(*conds)
                                 .order_by(InboundEmail.received_at.desc(), InboundEmail.id.desc())
                                 .offset((page - 1) * per_page).limit(per_page)))
    return InboxPage(items, page, per_page, total)


def attention_count(session: Session) -> int:
    """Quarantined or refused messages nobody has dealt with (for a badge)."""
    return session.scalar(select(func.count()).select_from(InboundEmail).where(*_conditions(ATTENTION))) or 0


def get_inbound(session: Session, actor, inbound_id: int) -> InboundEmail:
    _require(actor)
    row = session.get(InboundEmail, inbound_id)
    if row is None:
        raise NotFound("We could not find that message.")
    return row


def raw_message(session: Session, actor, inbound_id: int, settings: MailSettings) -> tuple[InboundEmail, Path]:
    """The row and its stored raw message (only quarantined and refused ones are kept)."""
    row = get_inbound(session, actor, inbound_id)
    path = raw_file(settings, row.raw_path)
    if path is None:
        raise NotFound("The raw message is not stored (only quarantined and refused messages are kept).")
    return row, path


def release(session: Session, actor, inbound_id: int, *, now: datetime | None = None) -> InboundEmail:
    """Mark it dealt with: it leaves the list that needs attention (the record stays)."""
    row = get_inbound(session, actor, inbound_id)
    if row.released_at is None:
        row.released_at = now or utcnow()
        session.flush()
    return row


def reprocess(session: Session, actor, inbound_id: int, settings: MailSettings, *, embedder=None, suggest=None,
              now: datetime | None = None) -> Outcome:
    """Run the intake again on the stored message, with today's limits and ticket data. It is
    taken in as its sender, exactly as when it arrived; the admin only pressed the button."""
    row, path = raw_message(session, actor, inbound_id, settings)
    if row.status not in ("quarantined", "refused"):
        raise ValidationError("Only quarantined or refused messages can be taken in again.", "status")
    raw = path.read_bytes()
    if row.size > len(raw):
        raise ValidationError("Only the headers of this message were kept: it is still in the mailbox. Raise "
                              "MAIL_MAX_MB and mark it unread there; the next fetch takes it in.", "status")
    now = now or utcnow()
    outcome = process_message(session, raw, settings, source=row.source, embedder=embedder, suggest=suggest,
                              now=now, existing=row)
    if outcome.status not in ("quarantined", "refused"):
        row.released_at = now
        session.flush()
    return outcome

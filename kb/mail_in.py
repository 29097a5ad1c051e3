"""Incoming email: what a message becomes (a ticket, a reply, a follow-up, nothing) and
the record of it in ``inbound_email``. The fetching lives in :mod:`kb.mail_fetch`, the
reading of the bytes in :mod:`kb.mail_parse`, the admin side in :mod:`kb.mail_inbox`.

Threading is by the ticket's secret mail token, never by address alone
(:mod:`kb.mail_thread`): a wrong or missing token is not threaded at all (the mail
becomes a new ticket of its sender); a right token from a stranger is refused and
nothing is posted.

Replies after the fix: on a *resolved* ticket the reply is added (the assignee is told;
the requester confirms or reopens with the links in the resolution mail). A reply to a
*closed* ticket within ``MAIL_REOPEN_DAYS`` of ``closed_at`` reopens it (the system move
``closed -> reopened`` in :mod:`kb.ticket_flow`); later, or on a cancelled or merged
ticket, it opens a follow-up ticket linked to the old one (``followup_of_id``).

Everything flushes, nothing commits: the caller commits once per message (the IMAP loop
before it marks the message seen or deletes it).
"""
from __future__ import annotations

import io
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import duplicates, ticket_work
from kb.attachments import human_size, save_attachments
from kb.channel_models import InboundEmail
from kb.contacts import find_or_create_contact
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.mail_parse import ParsedMail, Unreadable, clean_subject, header_summary, parse_message, safe
from kb.mail_thread import find_thread, participant
from kb.ticket_flow import CLOSED, OPEN_STATUSES, REOPENED, RESOLVED, allowed_roles, apply_transition
from kb.ticket_messages import BODY_MAX, add_reply
from kb.tickets import DESCRIPTION_MAX, TITLE_MAX, Ticket, create_ticket
from kb.users import User

log = logging.getLogger(__name__)
KB_ERRORS = (ValidationError, PermissionDenied, NotFound, InvalidTransition)
CUT_NOTE = "\n\n[The rest of the message was cut: it was too long.]"


@dataclass(frozen=True)
class MailSettings:
    """The limits and folders the intake needs (from the app config, see :meth:`from_config`)."""

    quarantine_path: str
    attachments_path: str
    max_bytes: int = 25 * 1024 * 1024
    reopen_days: int = 14
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_max_count: int = 5
    attachment_max_per_ticket: int | None = 50
    own_addresses: frozenset = frozenset()
    duplicate_hours: int = 24

    @classmethod
    def from_config(cls, config) -> "MailSettings":
        own = parseaddr(config.get("MAIL_FROM", ""))[1].strip().lower()
        return cls(quarantine_path=config["MAIL_QUARANTINE_PATH"], attachments_path=config["ATTACHMENTS_PATH"],
                   max_bytes=config["MAIL_MAX_BYTES"], reopen_days=config["MAIL_REOPEN_DAYS"],
                   attachment_max_bytes=config["ATTACHMENT_MAX_BYTES"],
                   attachment_max_count=config["ATTACHMENT_MAX_COUNT"],
                   attachment_max_per_ticket=config["ATTACHMENT_MAX_PER_TICKET"],
                   own_addresses=frozenset({own} - {""}),
                   duplicate_hours=config.get("DUPLICATE_WINDOW_HOURS", 24))


@dataclass(frozen=True)
class Outcome:
    status: str                  # one of kb.channel_models.INBOX_STATUSES
    reason: str = ""
    ticket_id: int | None = None
    inbound_id: int | None = None
    duplicate: bool = False      # seen before: nothing was done this time
    reference: str = ""          # the ticket's HD-... reference, for messages to people


def process_message(session: Session, raw: bytes, settings: MailSettings, *, source: str = "pipe",
                    embedder=None, suggest=None, now: datetime | None = None,
                    existing: InboundEmail | None = None, size: int | None = None) -> Outcome:
    """Take one raw message in; flushes. ``embedder`` is the embedder or a callable that
    loads it (only a new ticket needs it); ``suggest(session, user, text) -> [(title, path)]``
    offers articles in the "received" mail. A message already recorded is skipped, except a
    quarantined one (a retry after the limit was raised) or ``existing`` (an admin's reprocess).
    ``size`` larger than ``len(raw)``: only the headers of a message too large to download
    were passed (IMAP). Never raises for the message itself: what cannot be used is
    quarantined with the reason."""
    now = now or utcnow()
    key, sender, subject = header_summary(raw)
    if existing is None:
        existing = session.scalar(select(InboundEmail).where(InboundEmail.message_key == key))
        if existing is not None and existing.status != "quarantined":
            return Outcome(existing.status, existing.reason, existing.ticket_id, existing.id, duplicate=True,
                           reference=_reference(session, existing.ticket_id))
    total = max(size or 0, len(raw))
    facts = {"from_addr": sender, "subject": subject, "size": total}
    if total > settings.max_bytes:
        kept = "" if total == len(raw) else "; only its headers were kept, the message is still in the mailbox"
        return _record(session, existing, key, source, now, raw, settings, status="quarantined", facts=facts,
                       reason=f"larger than the {human_size(settings.max_bytes)} limit (MAIL_MAX_MB): "
                              f"{human_size(total)}{kept}")
    try:
        mail = parse_message(raw, settings.own_addresses)
    except Unreadable as exc:
        return _record(session, existing, key, source, now, raw, settings, status="quarantined", facts=facts,
                       reason=f"unreadable: {exc}")
    facts.update(from_addr=mail.from_addr, subject=mail.subject)
    if mail.automatic:
        return _record(session, existing, key, source, now, raw, settings, status="ignored", facts=facts,
                       reason=mail.automatic)
    try:
        with session.begin_nested():
            status, reason, ticket_id = _apply(session, mail, settings, embedder, suggest, now)
    except KB_ERRORS as exc:
        status, reason, ticket_id = "quarantined", f"could not be taken in: {exc}", None
    except Exception as exc:  # noqa: BLE001 - one broken message must not stop the ones behind it
        log.exception("incoming mail %s could not be processed", key)
        status, reason, ticket_id = "quarantined", f"processing failed ({type(exc).__name__}: {safe(exc, 300)})", None
    return _record(session, existing, key, source, now, raw, settings, status=status, facts=facts,
                   reason=reason, ticket_id=ticket_id)


def record_failure(session: Session, raw: bytes, settings: MailSettings, error: BaseException, *,
                   source: str = "imap", now: datetime | None = None) -> Outcome:
    """Quarantine a message whose processing raised past :func:`process_message` (the caller
    rolled back first), so the loop can go on to the next one."""
    key, sender, subject = header_summary(raw)
    existing = session.scalar(select(InboundEmail).where(InboundEmail.message_key == key))
    if existing is not None and existing.status != "quarantined":  # another process took it in meanwhile
        return Outcome(existing.status, existing.reason, existing.ticket_id, existing.id, duplicate=True,
                       reference=_reference(session, existing.ticket_id))
    return _record(session, existing, key, source, now or utcnow(), raw, settings, status="quarantined",
                   facts={"from_addr": sender, "subject": subject, "size": len(raw)},
                   reason=f"processing failed ({type(error).__name__}: {safe(error, 300)})")


def _record(session, row, key, source, now, raw, settings, *, status, facts, reason="", ticket_id=None) -> Outcome:
    if row is None:
        row = InboundEmail(message_key=key, source=source, received_at=now)
        session.add(row)
    row.from_addr = safe(facts["from_addr"], 254)
    row.subject = safe(facts["subject"], 300)
    row.size = facts["size"]
    row.status, row.reason, row.ticket_id = status, reason, ticket_id
    if status in ("quarantined", "refused") and not (row.raw_path and raw_file(settings, row.raw_path)):
        row.raw_path = save_raw(settings.quarantine_path, raw)
    session.flush()
    return Outcome(status, reason, ticket_id, row.id, reference=_reference(session, ticket_id))


def _reference(session, ticket_id: int | None) -> str:
    ticket = session.get(Ticket, ticket_id) if ticket_id else None
    return ticket.reference if ticket is not None else ""


def save_raw(directory, raw: bytes) -> str:
    """Keep the bytes for an admin: a generated name, readable by the service account only."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(16) + ".eml"
    with open(os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(raw)
        out.flush()
        os.fsync(out.fileno())
    return name


def raw_file(settings: MailSettings, name: str | None) -> Path | None:
    """The stored message, if ``name`` is one of ours and still there."""
    if not name or len(name) != 36 or not name.endswith(".eml") or not all(c in "0123456789abcdef" for c in name[:32]):
        return None
    path = Path(settings.quarantine_path) / name
    return path if path.is_file() else None


def _apply(session, mail: ParsedMail, settings: MailSettings, embedder, suggest, now) -> tuple[str, str, int | None]:
    ticket, note = find_thread(session, mail)
    if ticket is None:
        return _new_ticket(session, mail, settings, embedder, suggest, now, note)
    sender = participant(session, ticket, mail.from_addr)
    if sender is None:
        return ("refused", f"{mail.from_addr} is not the requester, a follower or a collaborator of "
                           f"{ticket.reference}: nothing was posted (forged or unknown sender)", ticket.id)
    if not sender.is_active:
        return "refused", f"{mail.from_addr}'s account is deactivated: nothing was posted", ticket.id
    for _ in range(5):  # a merged ticket's conversation continues on the one it was merged into
        if ticket.status != "merged" or ticket.merged_into_id is None:
            break
        ticket = session.get(Ticket, ticket.merged_into_id)
    return _reply(session, sender, ticket, mail, settings, embedder, suggest, now)


def _within(moment: datetime | None, days: int, now: datetime) -> bool:
    return moment is not None and now - moment <= timedelta(days=days)


def _reply(session, sender: User, ticket: Ticket, mail, settings, embedder, suggest, now) -> tuple[str, str, int]:
    body = _cut(mail.reply_text, BODY_MAX)
    if not body and not mail.attachments:
        return "ignored", "the reply is empty once the quoted text and signature are removed", ticket.id
    body = body or "(Files sent by email.)"
    requester = sender.id == ticket.requester_id
    staff = sender.role in ("agent", "lead", "admin")
    if ticket.status in OPEN_STATUSES or ticket.status == RESOLVED:
        # On a resolved ticket the reply is added and the assignee told, but it does not
        # reopen: "thanks, works" is the common answer; the mail has confirm/reopen links.
        message = ticket_work.reply(session, sender, ticket, body, now=now)
        return "reply", _files(session, sender, ticket, mail, settings, message, now), ticket.id
    if (ticket.status == CLOSED and allowed_roles(CLOSED, REOPENED)
            and _within(ticket.closed_at, settings.reopen_days, now) and not staff):
        apply_transition(session, sender, ticket, REOPENED, data={"reason": _reason(body)}, now=now)
        message = add_reply(session, sender, ticket, body, now=now)
        if ticket.assignee_id:
            from kb.notifications import notify
            notify(session, ticket.assignee_id, "reopened", f"{ticket.reference} was reopened by {sender.name}.",
                   ticket=ticket, now=now)
        return "reply", _join("reopened by a reply within the window",
                              _files(session, sender, ticket, mail, settings, message, now)), ticket.id
    if staff and not requester:
        return "refused", f"{ticket.reference} is {ticket.status}: staff replies by email are not taken", ticket.id
    return _followup(session, sender, ticket, mail, settings, embedder, suggest, now, body)


def _followup(session, sender, old: Ticket, mail, settings, embedder, suggest, now, body) -> tuple[str, str, int]:
    why = (f"{old.reference} is {old.status}" if old.status != RESOLVED else
           f"{old.reference} was resolved more than {settings.reopen_days} days ago")
    title = clean_subject(mail.subject) or old.title
    description = _cut(f"Follow-up to {old.reference} “{old.title}”.\n\n{body}", DESCRIPTION_MAX)
    ticket = _create(session, sender, mail, title, description, embedder, suggest, now, settings)
    ticket.followup_of_id = old.id
    session.flush()
    return "followup", _join(f"{why}: opened follow-up {ticket.reference}",
                             _files(session, sender, ticket, mail, settings, None, now)), ticket.id


def _new_ticket(session, mail, settings, embedder, suggest, now, note: str) -> tuple[str, str, int | None]:
    user, created = find_or_create_contact(session, mail.from_addr, mail.from_name)
    if not user.is_active:
        return "refused", f"{mail.from_addr}'s account is deactivated: no ticket was opened", None
    text = mail.text or ("(No text; see the attached files.)" if mail.attachments else "")
    title = clean_subject(mail.subject) or " ".join(text.split()) or f"Email from {mail.from_addr}"
    ticket = _create(session, user, mail, title, _cut(text or title, DESCRIPTION_MAX), embedder, suggest, now,
                     settings)
    return "ticket", _join("new contact registered" if created else "", note,
                           _files(session, user, ticket, mail, settings, None, now)), ticket.id


def _create(session, user, mail, title, description, embedder, suggest, now, settings) -> Ticket:
    title = title if len(title) <= TITLE_MAX else title[:TITLE_MAX - 1].rstrip() + "…"
    suggested = None
    if suggest is not None:
        try:
            suggested = suggest(session, user, f"{title}\n{description}")
        except Exception:  # noqa: BLE001 - a ticket is never lost because search is unavailable
            log.warning("email intake: article suggestions unavailable", exc_info=True)
    if callable(embedder) and not hasattr(embedder, "encode"):  # a loader: only new tickets need the model
        try:
            embedder = embedder()
        except Exception:  # noqa: BLE001 - a ticket is never refused because the model is unavailable
            log.warning("email intake: embedder unavailable", exc_info=True)
            embedder = None
    ticket = create_ticket(session, user, requester=user, channel="email", title=title, description=description,
                           contact_email=mail.from_addr, embedder=embedder, suggested=suggested, now=now)
    duplicates.flag_possible_duplicates(session, ticket, embedder, hours=settings.duplicate_hours, now=now)
    return ticket


def _files(session, sender, ticket, mail, settings, message, now) -> str:
    """Store the attachments with the portal's limits; a refused file is a note, never a lost message."""
    if not mail.attachments:
        return ""
    files = [(name, io.BytesIO(data)) for name, data in mail.attachments]
    try:
        _, rejected = save_attachments(
            session, sender, ticket, files, storage_dir=settings.attachments_path,
            max_bytes=settings.attachment_max_bytes, max_count=settings.attachment_max_count,
            max_per_ticket=settings.attachment_max_per_ticket, message=message, now=now)
    except KB_ERRORS as exc:
        return f"the attached files were not added: {exc}"
    return "; ".join(str(r) for r in rejected)


def _cut(text: str, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit - len(CUT_NOTE)].rstrip() + CUT_NOTE


def _reason(body: str) -> str:
    return _cut("Replied by email: " + " ".join(body.split()), 500)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)

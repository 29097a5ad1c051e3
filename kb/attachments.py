"""Files on a ticket (screenshots, logs, documents), and what keeps them from hurting anyone.

- The type comes from the content, never from the name: an allow-list of signatures
  (PNG, JPEG, GIF, WebP, PDF, ZIP and the Office formats built on it) plus UTF-8 text
  without NUL bytes (logs, CSV, JSON, e-mail source). HTML and SVG are refused even when
  renamed, because served from the portal's origin they could run script; so are programs
  and the macro-carrying old Office formats.
- Files live under ``storage_dir/<2 hex>/<32 hex>``, a generated name outside the web root;
  the uploaded name is only kept (cleaned) for display and download. A file is read in chunks
  into a temporary file, never more than ``max_bytes + 1`` bytes, fsync'd, then renamed.
- Every file is judged on its own: a refused one becomes a :class:`Rejection` and the others
  (and the ticket, the reply...) are kept.
- Orphans: the files written in a transaction are remembered on the session and deleted if it
  ends without a commit (rollback, close, failed flush), so a failed insert leaves no file.
  A process killed between the write and the commit can still leave one; it is unreachable
  (only a row leads to a file) and :func:`remove_orphans` sweeps it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.attachment_types import (ALLOWED_TEXT, ALLOWED_TYPES, CHUNK, DOCX, INLINE_TYPES, PPTX, TEXT,  # noqa: F401
                                 TYPE_REASONS, XLSX, Refused, sniff)
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.ticket_events import ATTACHMENT, record_event
from kb.ticket_flow import TERMINAL_STATUSES
from kb.ticket_records import ATTACHMENT_PURPOSES, TicketAttachment

log = logging.getLogger(__name__)

FILENAME_MAX = 255
NOT_FOUND = "We could not find that attachment."
_STORED_NAME = re.compile(r"[0-9a-f]{32}")
_PENDING = "helpdesk_attachment_files"


@dataclass(frozen=True)
class Rejection:
    """One refused file: ``reason`` is a key (too_large, too_many, ticket_full, empty, type,
    storage) the portal translates; ``detail`` holds the numbers or the type reason key."""

    filename: str
    reason: str
    detail: dict = field(default_factory=dict)

    def __str__(self) -> str:
        d, name = self.detail, self.filename
        return {
            "too_large": f"'{name}' was not added: it is larger than {human_size(d.get('max_bytes', 0))}.",
            "too_many": f"'{name}' was not added: at most {d.get('max_count')} files can be added at once.",
            "ticket_full": f"'{name}' was not added: a ticket can have at most {d.get('max_per_ticket')} files.",
            "empty": f"'{name}' was not added: the file is empty.",
            "type": f"'{name}' is not an allowed file type ({TYPE_REASONS.get(d.get('why'), '')}); "
                    f"allowed: {ALLOWED_TEXT}.",
        }.get(self.reason, f"'{name}' could not be stored; please try again later.")


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.1f}".removesuffix(".0") + f" {unit}"
    raise AssertionError("unreachable")


def clean_filename(raw: str | None) -> str:
    """The last path part, without control or bidi characters (no "gpj.exe" spoofing), trimmed
    of the dots and spaces Windows drops, at most 255 characters with the extension kept."""
    name = unicodedata.normalize("NFC", str(raw or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Zl", "Zp"})
    name = " ".join(name.split()).strip(" .") or "attachment"
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        keep = f".{ext}" if dot and stem and len(ext) <= 16 else ""
        name = name[: FILENAME_MAX - len(keep)].rstrip(" .") + keep
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store(stream, storage_dir: Path, max_bytes: int) -> tuple[str, Path, int, str, str]:
    """Copy at most max_bytes+1 bytes into a temp file, check it, rename it to a generated name."""
    token = secrets.token_hex(16)
    final = storage_dir / token[:2] / token
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{token}.part"
    digest, size = hashlib.sha256(), 0
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            while chunk := stream.read(min(CHUNK, max_bytes + 1 - size)):
                size += len(chunk)
                if size > max_bytes:
                    raise Refused("too_large", max_bytes=max_bytes)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise Refused("empty")
        content_type = sniff(tmp)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        final.unlink(missing_ok=True)  # renamed but not synced: not worth keeping half-stored
        raise
    return token, final, size, digest.hexdigest(), content_type


def may_attach(actor, ticket, *, internal: bool = False, purpose: str = "attachment") -> bool:
    """Whether this actor may add such files: staff who work the ticket, anything; its requester,
    public files while the ticket is open. (For templates; save_attachments says why not.)"""
    try:
        _check_may_attach(actor, ticket, internal, purpose)
    except (NotFound, PermissionDenied, InvalidTransition, ValidationError):
        return False
    return True


def _check_may_attach(actor, ticket, internal: bool, purpose: str) -> None:
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    if purpose not in ATTACHMENT_PURPOSES:
        raise ValidationError(f"Unknown attachment purpose {purpose!r}.", "purpose")
    worker = permissions.can_work_ticket(actor, ticket)
    if (internal or purpose == "evidence") and not worker:
        raise PermissionDenied("Only support staff can add internal files or diagnosis evidence.")
    if not worker and ticket.requester_id != actor.id:
        raise PermissionDenied("Only the requester and support staff can add files to this ticket.")
    if not internal and ticket.status in TERMINAL_STATUSES:
        raise InvalidTransition(f"A {ticket.status!r} ticket takes no more files.")


def save_attachments(session: Session, actor, ticket, files, *, storage_dir, max_bytes: int, max_count: int,
                     max_per_ticket: int | None = None, message=None, internal: bool = False,
                     purpose: str = "attachment", now: datetime | None = None
                     ) -> tuple[list[TicketAttachment], list[Rejection]]:
    """Store ``files`` ((filename, binary stream) pairs; empty names are "no file chosen" and
    skipped) and record one ATTACHMENT event each. Files on an internal ``message`` are internal.
    Raises for the batch (NotFound, PermissionDenied, InvalidTransition, ValidationError);
    a single bad file only adds a Rejection."""
    if message is not None:
        if message.ticket_id != ticket.id:
            raise ValueError("the message belongs to another ticket")
        internal = internal or bool(message.internal)
    _check_may_attach(actor, ticket, internal, purpose)
    now = now or utcnow()
    storage_dir = Path(storage_dir)
    existing = session.scalar(select(func.count()).select_from(TicketAttachment)
                              .where(TicketAttachment.ticket_id == ticket.id)) or 0
    saved: list[TicketAttachment] = []
    rejected: list[Rejection] = []
    pending = session.info.setdefault(_PENDING, [])
    offered = [(clean_filename(name), stream) for name, stream in files if name]
    for name, stream in offered:
        if len(saved) >= max_count:
            rejected.append(Rejection(name, "too_many", {"max_count": max_count}))
            continue
        if max_per_ticket is not None and existing + len(saved) >= max_per_ticket:
            rejected.append(Rejection(name, "ticket_full", {"max_per_ticket": max_per_ticket}))
            continue
        try:
            stored_name, path, size, sha256, content_type = _store(stream, storage_dir, max_bytes)
        except Refused as refused:
            rejected.append(Rejection(name, refused.reason, refused.detail))
            continue
        except OSError:
            log.exception("attachment %r on ticket %s could not be stored", name, ticket.id)
            rejected.append(Rejection(name, "storage"))
            continue
        pending.append(path)
        row = TicketAttachment(ticket_id=ticket.id, message_id=getattr(message, "id", None),
                               uploader_id=actor.id, filename=name, stored_name=stored_name,
                               content_type=content_type, size=size, sha256=sha256, purpose=purpose,
                               internal=internal, created_at=now)
        session.add(row)
        saved.append(row)
    if saved:
        session.flush()
        for row in saved:
            record_event(session, actor, ticket, ATTACHMENT, now=now,
                         data={"attachment_id": row.id, "filename": row.filename, "internal": row.internal})
        ticket.updated_at = now
    return saved, rejected


def visible_attachments(session: Session, actor, ticket) -> list[TicketAttachment]:
    """All files for staff; the public ones for the requester."""
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    query = select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
    if not permissions.is_staff(actor):
        query = query.where(TicketAttachment.internal.is_(False))
    return list(session.scalars(query.order_by(TicketAttachment.created_at, TicketAttachment.id)))


def open_attachment(session: Session, actor, attachment_id: int, storage_dir, *,
                    ticket_id: int | None = None) -> tuple[TicketAttachment, Path]:
    """The row and its file. The same NotFound whether it does not exist, is on another ticket,
    or is not this actor's to see, so nothing hints that it exists."""
    from kb.tickets import Ticket  # late: kb.tickets is heavier and imports much of kb

    row = session.get(TicketAttachment, attachment_id)
    ticket = session.get(Ticket, row.ticket_id) if row is not None else None
    if (ticket is None or (ticket_id is not None and ticket.id != ticket_id)
            or not permissions.can_view_ticket(actor, ticket)
            or (row.internal and not permissions.is_staff(actor))):
        raise NotFound(NOT_FOUND)
    if not _STORED_NAME.fullmatch(row.stored_name or ""):
        raise NotFound(NOT_FOUND)
    path = Path(storage_dir) / row.stored_name[:2] / row.stored_name
    if not path.is_file():
        log.error("attachment %s: file %s is missing", row.id, path)
        raise NotFound("That file is missing from storage; ask support to add it again.")
    return row, path


def remove_orphans(session: Session, storage_dir, *, older_than: timedelta = timedelta(hours=1),
                   now: datetime | None = None) -> list[Path]:
    """Delete stored files no row points to (and stale temp files) older than ``older_than``,
    the margin that keeps an upload whose transaction is still open."""
    cutoff = (now or utcnow()).timestamp() - older_than.total_seconds()
    candidates = [p for p in Path(storage_dir).glob("??/*") if p.is_file() and p.stat().st_mtime < cutoff]
    named = {p.name: p for p in candidates if _STORED_NAME.fullmatch(p.name)}
    known = set(session.scalars(select(TicketAttachment.stored_name)
                                .where(TicketAttachment.stored_name.in_(list(named)))))
    removed = [p for p in candidates if p.name.endswith(".part") or (p.name in named and p.name not in known)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session):
    session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted_files(session, transaction):
    if transaction.parent is None and session.info.get(_PENDING):
        for path in session.info.pop(_PENDING):
            Path(path).unlink(missing_ok=True)

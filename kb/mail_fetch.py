"""Fetching the support mailbox over IMAP, one message and one transaction at a time.

The order is what keeps mail from being lost: read the message *without* marking it
(``BODY.PEEK[]``), take it in (:func:`kb.mail_in.process_message`), **commit**, and only
then flag it ``\\Seen`` (or ``\\Deleted`` and expunge, with ``IMAP_AFTER=delete``). A crash
in between leaves the message unseen; the next run fetches it again and recognises it
(``inbound_email.message_key``), so it is not filed twice. A message larger than
``MAIL_MAX_BYTES`` is judged by ``RFC822.SIZE`` and only its headers are downloaded; it is
quarantined, flagged seen and never deleted (nobody has its body but the mailbox). A
message that makes the intake raise is rolled back, quarantined, and the loop goes on.
"""
from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kb.mail_in import MailSettings, Outcome, process_message, record_failure

log = logging.getLogger(__name__)
_SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")
BATCH_MAX = 200  # per run: a flooded mailbox is worked through over several runs


class MailboxError(Exception):
    """The mailbox could not be reached or read (connection, login, folder)."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int = 993
    user: str = ""
    password: str = ""
    security: str = "ssl"       # none | starttls | ssl
    folder: str = "INBOX"
    after: str = "seen"         # seen | delete
    timeout: float = 30.0

    @classmethod
    def from_config(cls, config) -> "ImapSettings":
        return cls(host=config.get("IMAP_HOST", ""), port=int(config.get("IMAP_PORT", 993)),
                   user=config.get("IMAP_USER", ""), password=config.get("IMAP_PASSWORD", ""),
                   security=config.get("IMAP_SECURITY", "ssl"), folder=config.get("IMAP_FOLDER", "INBOX"),
                   after=config.get("IMAP_AFTER", "seen"), timeout=float(config.get("SMTP_TIMEOUT", 30) or 30))


def connect(settings: ImapSettings) -> imaplib.IMAP4:
    """Log in and select the folder; raises MailboxError with a sentence an admin can act on."""
    if not settings.host:
        raise MailboxError("IMAP_HOST is not set: there is no mailbox to fetch.")
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.security == "ssl":
            conn = imaplib.IMAP4_SSL(settings.host, settings.port, ssl_context=ssl.create_default_context(),
                                     timeout=settings.timeout)
        else:
            conn = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
            if settings.security == "starttls":
                conn.starttls(ssl_context=ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"Could not connect to the IMAP server {where} ({settings.security}): {exc}") from exc
    try:
        conn.login(settings.user, settings.password)
        typ, data = conn.select(_quote(settings.folder))
        if typ != "OK":
            raise MailboxError(f"The folder {settings.folder!r} could not be opened: {_text(data)}")
    except (OSError, imaplib.IMAP4.error) as exc:
        _logout(conn)
        raise MailboxError(f"The IMAP server {where} refused the login or the folder: {exc}") from exc
    except MailboxError:
        _logout(conn)
        raise
    return conn


def fetch_once(session: Session, imap: ImapSettings, mail: MailSettings, *, commit, rollback=None,
               embedder=None, suggest=None, on_message=None, limit: int = BATCH_MAX) -> dict:
    """Take in the unseen messages (at most ``limit``); returns counts by outcome status plus
    ``fetched``, ``duplicate`` and ``errors`` (left unseen, retried next run). ``commit`` and
    ``rollback`` are the caller's (the kb never commits on its own); ``on_message(uid, outcome)``
    reports progress."""
    rollback = rollback or session.rollback
    counts: Counter = Counter()
    conn = connect(imap)
    try:
        typ, data = conn.uid("SEARCH", None, "UNSEEN")
        if typ != "OK":
            raise MailboxError(f"Searching {imap.folder!r} failed: {_text(data)}")
        uids = (data[0] or b"").split()[:limit]
        deleted: list[bytes] = []
        for uid in uids:
            counts["fetched"] += 1
            outcome, headers_only = _take_one(conn, session, uid, imap, mail, commit, rollback, embedder, suggest)
            if outcome is None:
                counts["errors"] += 1
                continue
            counts["duplicate" if outcome.duplicate else outcome.status] += 1
            if _done(conn, uid, imap, headers_only=headers_only):
                deleted.append(uid)
            if on_message is not None:
                on_message(uid.decode(), outcome)
        if deleted:  # only ours when the server can (UIDPLUS), not what someone else marked
            if "UIDPLUS" in conn.capabilities:
                conn.uid("EXPUNGE", b",".join(deleted).decode())
            else:
                conn.expunge()
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"The IMAP connection failed: {exc}") from exc
    finally:
        _logout(conn)
    return dict(counts)


def _take_one(conn, session, uid: bytes, imap, mail: MailSettings, commit, rollback, embedder,
              suggest) -> tuple[Outcome | None, bool]:
    """One message in its own transaction: (outcome, whether only its headers were read).
    The outcome is None when the message could not be read or even its failure not recorded
    (it stays unseen and is tried again next run)."""
    try:
        size = _size(conn, uid)
        headers_only = size > mail.max_bytes
        raw = _fetch(conn, uid, "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]")
    except imaplib.IMAP4.abort:
        raise  # the connection is gone: stop this run, nothing was flagged
    except imaplib.IMAP4.error:
        log.exception("incoming mail UID %s could not be fetched", uid)
        return None, False
    try:
        outcome = process_message(session, raw, mail, source="imap", size=size, embedder=embedder,
                                  suggest=suggest)
        commit()
        return outcome, headers_only
    except Exception as exc:  # noqa: BLE001 - quarantine it and go on with the next message
        log.exception("incoming mail UID %s could not be taken in", uid)
        rollback()
        error = exc
    try:
        outcome = record_failure(session, raw, mail, error, source="imap")
        commit()
        return outcome, headers_only
    except Exception:  # noqa: BLE001 - the database is unwell: leave the message unseen
        log.exception("incoming mail UID %s: the failure could not be recorded either", uid)
        rollback()
        return None, headers_only


def _done(conn, uid: bytes, imap: ImapSettings, *, headers_only: bool) -> bool:
    """Flag a committed message; True when it was marked for deletion. A message we only
    read the headers of is never deleted: the mailbox has the only copy."""
    if imap.after == "delete" and not headers_only:
        conn.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen \Deleted)")
        return True
    conn.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen)")
    return False


def _size(conn, uid: bytes) -> int:
    typ, data = conn.uid("FETCH", uid, "(RFC822.SIZE)")
    for item in data or []:
        line = item[0] if isinstance(item, tuple) else item
        m = _SIZE_RE.search(line or b"")
        if typ == "OK" and m:
            return int(m.group(1))
    raise imaplib.IMAP4.error(f"no size for UID {uid!r}: {data!r}")


def _fetch(conn, uid: bytes, what: str) -> bytes:
    typ, data = conn.uid("FETCH", uid, f"({what})")
    parts = [item[1] for item in data or [] if isinstance(item, tuple)]
    if typ != "OK" or not parts:
        raise imaplib.IMAP4.error(f"UID {uid!r} could not be fetched: {data!r}")
    return parts[0]


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data) -> str:
    return " ".join(d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data or [])


def _logout(conn) -> None:
    try:
        conn.logout()
    except Exception:  # noqa: BLE001 - already gone
        pass

"""Outgoing mail, part two: render an outbox row (:mod:`kb.mail_out`) as a MIME message and
send it over SMTP, with retries.

Delivery is *at least once*. Each row is claimed before it is sent (an atomic update that
counts the attempt and pushes ``next_attempt_at`` past a lease), so two senders (the
background worker and ``flask mail send``) never pick the same row, and a process that
dies mid-send retries the row once the lease runs out. With a ``commit`` callback the
claim and the outcome of every mail are committed one by one: a crash never resends a
mail whose success was committed; only the one mail in flight can go out twice (with the
same Message-ID, so mail clients show it once).

A failed send never loses the row: it is retried after :data:`BACKOFF_MINUTES` and, after
:data:`MAX_ATTEMPTS` tries (or at once when the server refuses the address for good),
kept as ``failed`` for an admin to retry (:func:`kb.mail_out.retry_failed`).

The confirm / reopen links of a "resolved" mail carry a signed token so the requester can
act from their mailbox without logging in (contacts have no password); the portal checks
it with :func:`verify_action`. The secret is passed in: kb does not know Flask's config.
"""
from __future__ import annotations

import html
import json
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kb.channel_models import OutboundEmail
from kb.db import utcnow
from kb.errors import ValidationError
from kb.users import User

log = logging.getLogger(__name__)

BACKOFF_MINUTES = (1, 5, 30, 120, 360, 720, 1440)  # after the 1st, 2nd, ... failed try
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1             # about 45 hours of trying, then "failed"
CLAIM_MINUTES = 10                                  # a claimed row is left alone this long
ERROR_MAX = 2000
ACTION_SALT = "mail-action"
ACTION_MAX_AGE = 14 * 24 * 3600
ACTIONS = ("confirm", "reopen")
ACTION_PATH_RE = re.compile(r"^/tickets/(\d+)/mail/(confirm|reopen)$")


@dataclass(frozen=True)
class MailSettings:
    """What the sender needs from the configuration (the app's ``config`` keys)."""

    mail_from: str
    base_url: str
    secret_key: str
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_timeout: int = 15

    @classmethod
    def from_config(cls, config: Mapping) -> "MailSettings":
        return cls(mail_from=config.get("MAIL_FROM") or "Helpdesk <helpdesk@localhost>",
                   base_url=(config.get("BASE_URL") or "").rstrip("/"), secret_key=config["SECRET_KEY"],
                   smtp_host=config.get("SMTP_HOST") or "", smtp_port=int(config.get("SMTP_PORT") or 25),
                   smtp_user=config.get("SMTP_USER") or "", smtp_password=config.get("SMTP_PASSWORD") or "",
                   smtp_security=config.get("SMTP_SECURITY") or "none",
                   smtp_timeout=int(config.get("SMTP_TIMEOUT") or 15))

    @property
    def from_addr(self) -> str:
        return parseaddr(self.mail_from)[1] or "helpdesk@localhost"

    @property
    def domain(self) -> str:
        return self.from_addr.rpartition("@")[2] or "localhost"


# -- signed action links ---------------------------------------------------------------

def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=ACTION_SALT)


def sign_action(secret: str, user_id: int, ticket_id: int, action: str) -> str:
    return _serializer(secret).dumps({"u": user_id, "t": ticket_id, "a": action})


class ActionTokenError(ValidationError):
    """A mail link's token is forged, for another ticket or action, or too old (``expired``)."""

    def __init__(self, message: str, expired: bool = False):
        super().__init__(message, "t")
        self.expired = expired


def verify_action(secret: str, token: str | None, *, ticket_id: int, action: str,
                  max_age: int = ACTION_MAX_AGE) -> int:
    """The user id the token was made for, if it is genuine, fresh and for this ticket and action."""
    try:
        data = _serializer(secret).loads(token or "", max_age=max_age)
    except SignatureExpired:
        raise ActionTokenError("This link has expired.", expired=True) from None
    except BadSignature:
        raise ActionTokenError("This link is not valid.") from None
    if (not isinstance(data, dict) or data.get("t") != ticket_id or data.get("a") != action
            or not isinstance(data.get("u"), int)):
        raise ActionTokenError("This link is not valid.")
    return data["u"]


# -- rendering -------------------------------------------------------------------------

def _links(row: OutboundEmail, settings: MailSettings) -> list[tuple[str, str]]:
    """(label, absolute URL) pairs; confirm / reopen paths get the recipient's token."""
    out = []
    for link in json.loads(row.links or "[]"):
        path = link.get("path") or "/"
        match = ACTION_PATH_RE.match(path)
        if match and row.user_id is not None:
            token = sign_action(settings.secret_key, row.user_id, int(match.group(1)), match.group(2))
            path = f"{path}?t={token}"
        out.append((link.get("label") or path, settings.base_url + path))
    return out


def _first_mail_id(session: Session, row: OutboundEmail) -> str | None:
    """The ticket's first mail, so every later one threads under it."""
    if row.ticket_id is None:
        return None
    first = session.scalar(select(OutboundEmail.message_id).where(OutboundEmail.ticket_id == row.ticket_id)
                           .order_by(OutboundEmail.id).limit(1))
    return first if first and first != row.message_id else None


def build_message(session: Session, row: OutboundEmail, settings: MailSettings) -> EmailMessage:
    """The MIME message for ``row``: plain text with the links spelt out, and an escaped HTML twin."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    user = session.get(User, row.user_id) if row.user_id is not None else None
    msg["To"] = formataddr((user.name, row.to_addr)) if user is not None else row.to_addr
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at or utcnow())
    msg["Message-ID"] = f"<{row.message_id}@{settings.domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"  # no out-of-office answers back to the helpdesk
    if row.ticket_id is not None:
        msg["Reply-To"] = settings.from_addr  # a reply lands in the support mailbox, on the ticket
        first = _first_mail_id(session, row)
        if first:
            msg["In-Reply-To"] = f"<{first}@{settings.domain}>"
            msg["References"] = f"<{first}@{settings.domain}>"
    links = _links(row, settings)
    text = row.body.rstrip()
    if links:
        text += "\n\n" + "\n".join(f"{label}: {url}" for label, url in links)
    msg.set_content(text + "\n")
    if row.html:
        msg.add_alternative(row.html, subtype="html")
    else:
        paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                             for p in row.body.strip().split("\n\n") if p.strip())
        items = "".join(f'<li><a href="{html.escape(url)}">{html.escape(label)}</a></li>' for label, url in links)
        msg.add_alternative(f"<!doctype html><html><body>{paragraphs}{f'<ul>{items}</ul>' if items else ''}"
                            "</body></html>\n", subtype="html")
    for part in json.loads(row.attachments or "[]"):
        maintype, _, subtype = (part.get("content_type") or "text/plain").partition("/")
        if maintype == "text":
            msg.add_attachment(part["content"], subtype=subtype or "plain", filename=part["filename"])
        else:
            msg.add_attachment(part["content"].encode("utf-8"), maintype=maintype, subtype=subtype or "octet-stream",
                               filename=part["filename"])
    return msg


# -- transport -------------------------------------------------------------------------

class TransportUnavailable(Exception):
    """The mail server cannot be reached or refuses us: stop the batch, the rest waits."""


class PermanentFailure(Exception):
    """The server refused this message for good (e.g. an unknown recipient): no retries."""


class SMTPTransport:
    """One SMTP connection per batch, opened on the first mail, reopened after an error."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "SMTPTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"{s.smtp_host}:{s.smtp_port}: {exc}") from exc
        return smtp

    def send(self, msg: EmailMessage, from_addr: str, to_addr: str) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(msg, from_addr=from_addr, to_addrs=[to_addr])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
            raise
        except (OSError, smtplib.SMTPServerDisconnected):
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None


# -- sending the outbox ----------------------------------------------------------------

def _claim(session: Session, mail_id: int, now: datetime) -> OutboundEmail | None:
    """Take the row if it is still due (nobody else took it); counts the attempt."""
    result = session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == mail_id, OutboundEmail.status == "pending", OutboundEmail.next_attempt_at <= now)
        .values(attempts=OutboundEmail.attempts + 1, next_attempt_at=now + timedelta(minutes=CLAIM_MINUTES))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    return session.get(OutboundEmail, mail_id, populate_existing=True)


def _failed(row: OutboundEmail, error: str, now: datetime, permanent: bool = False) -> str:
    row.last_error = error[:ERROR_MAX]
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return "failed"
    row.next_attempt_at = now + timedelta(minutes=BACKOFF_MINUTES[min(row.attempts, len(BACKOFF_MINUTES)) - 1])
    return "retry"


def send_due(session: Session, transport, settings: MailSettings, now: datetime | None = None, limit: int = 50,
             *, commit: Callable[[], None] | None = None) -> dict:
    """Send the pending mails that are due; ``{"sent", "failed", "retry"}`` counts.

    Does nothing without ``SMTP_HOST`` (the mails wait). One mail's failure does not stop
    the others; an unreachable server stops the batch (the rest is not tried, so not
    counted against them). ``commit`` (e.g. ``session.commit``) is called after each
    claim and each outcome; without it the caller commits."""
    counts = {"sent": 0, "failed": 0, "retry": 0}
    if not settings.smtp_host:
        return counts
    now = now or utcnow()
    save = commit or session.flush
    due = list(session.scalars(select(OutboundEmail.id)
                               .where(OutboundEmail.status == "pending", OutboundEmail.next_attempt_at <= now)
                               .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id).limit(limit)))
    for mail_id in due:
        row = _claim(session, mail_id, now)
        if row is None:
            continue
        save()
        try:
            transport.send(build_message(session, row, settings), settings.from_addr, row.to_addr)
        except TransportUnavailable as exc:
            counts[_failed(row, str(exc), now)] += 1
            save()
            log.warning("mail server unavailable, %d due mails wait: %s", len(due), exc)
            break
        except PermanentFailure as exc:
            counts[_failed(row, str(exc), now, permanent=True)] += 1
        except Exception as exc:  # noqa: BLE001 - any error is this mail's, the row keeps it
            log.warning("sending mail %s failed", row.id, exc_info=True)
            counts[_failed(row, f"{type(exc).__name__}: {exc}", now)] += 1
        else:
            row.status, row.sent_at, row.last_error = "sent", now, None
            counts["sent"] += 1
        save()
    return counts


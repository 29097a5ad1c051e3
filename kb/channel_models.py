"""The records behind the channels: the mail outbox and inbox, notification preferences,
API tokens, chat integrations, and the people who follow someone else's ticket.

Models only; the services live in :mod:`kb.mail_out`, :mod:`kb.mail_in`,
:mod:`kb.notifications`, :mod:`kb.api_tokens`, :mod:`kb.chat` and :mod:`kb.duplicates`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from kb.db import Base, UTCDateTime, utcnow

OUTBOX_STATUSES = ("pending", "sent", "failed")
INBOX_STATUSES = ("ticket", "reply", "followup", "ignored", "quarantined", "refused")
NOTIFICATION_CHANNELS = ("in_app", "email")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OutboundEmail(Base):
    """One email to send: the outbox is the queue, so a mail is enqueued in the same
    transaction as the change it reports and survives a failed send (it is retried with
    back-off until ``MAX_ATTEMPTS``, then kept as ``failed`` for an admin to retry).

    The body is stored as plain text at the time of the change; the sender adds the
    portal's base URL to ``links`` (JSON list of ``{"label", "path"}``) and the threading
    headers when it renders the MIME message."""

    __tablename__ = "outbound_email"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status_valid"),
        Index("ix_outbound_email_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), nullable=True, index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    links: Mapped[str] = mapped_column(Text, default="[]")
    html: Mapped[str | None] = mapped_column(Text, nullable=True)  # a rendered HTML part (reviews), else escaped body
    # JSON list of {"filename", "content_type", "content"}: small text attachments (a review's CSV)
    attachments: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)  # ours, for In-Reply-To threading
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class InboundEmail(Base):
    """Every message the intake looked at, and what became of it. ``message_key`` (the
    Message-ID, or a digest of the raw bytes when there is none) makes intake idempotent:
    a message fetched twice (a crash between commit and flagging it in the mailbox) is
    recognised and skipped. Quarantined and refused messages keep their raw bytes in
    ``raw_path`` (under the instance folder) so an admin can look at them."""

    __tablename__ = "inbound_email"
    __table_args__ = (
        CheckConstraint(_in("status", INBOX_STATUSES), name="status_valid"),
        Index("ix_inbound_email_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(250), unique=True)
    source: Mapped[str] = mapped_column(String(20), default="pipe")  # pipe, imap
    from_addr: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True, index=True)
    raw_path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # an admin dealt with it


class NotificationPreference(Base):
    """An opt-out: the user does not want ``kind`` on ``channel``. No row = wanted, so new
    kinds reach everyone until they choose otherwise."""

    __tablename__ = "notification_preference"
    __table_args__ = (CheckConstraint(_in("channel", NOTIFICATION_CHANNELS), name="channel_valid"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)


class ApiToken(Base):
    """A personal API token. Only its SHA-256 is stored; ``prefix`` (the first characters)
    lets the owner recognise it in the list. A revoked token stays for the record."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChatIntegration(Base):
    """A messaging platform allowed to post to the chat webhook, with its HMAC secret
    (kept in the clear because verifying a signature needs it; only admins see it, once)."""

    __tablename__ = "chat_integration"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatConversation(Base):
    """A platform conversation bound to the ticket it opened; later messages append to it."""

    __tablename__ = "chat_conversation"
    __table_args__ = (UniqueConstraint("integration_id", "conversation_id", name="uq_chat_conversation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("chat_integration.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatDelivery(Base):
    """A delivery already accepted (by the platform's message id): a replayed request with
    a still-fresh timestamp is refused because its id is here."""

    __tablename__ = "chat_delivery"
    __table_args__ = (UniqueConstraint("integration_id", "delivery_id", name="uq_chat_delivery"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("chat_integration.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class TicketFollower(Base):
    """Someone affected by another person's ticket ("add me to this issue", a merged-in
    requester, an incident's reporters): sees its public thread and gets its updates."""

    __tablename__ = "ticket_follower"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True)
    source_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), nullable=True)  # merged from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

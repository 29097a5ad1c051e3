"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

``smtp_server`` yields a :class:`SMTPServer`: ``host``/``port`` to configure the app
with (``configure(app)``), and ``messages``, the parsed mails received, each with its
envelope (``mail_from``, ``rcpt_tos``). Recipients whose address starts with
``bounce`` are refused with a permanent 550, like an unknown mailbox.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on (aiosmtpd 1.4 cannot bind port 0 and report it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: object  # email.message.EmailMessage

    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")

    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


@dataclass
class SMTPServer:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)

    def configure(self, app, **extra) -> None:
        app.config.update(SMTP_HOST=self.host, SMTP_PORT=self.port, SMTP_SECURITY="none", SMTP_USER="",
                          SMTP_TIMEOUT=5, **extra)


class _Collect:
    def __init__(self, server: SMTPServer):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("bounce"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted"


@pytest.fixture
def smtp_server():
    server = SMTPServer(HOST, free_port())
    controller = Controller(_Collect(server), hostname=HOST, port=server.port, ready_timeout=5)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def deliver(app) -> dict:
    """Run the sender as the worker does. The test's own transaction is ended first:
    SQLite takes the write lock at BEGIN, so an open one would block the sender's session."""
    from portal.extensions import db
    from portal.outbox import send_outbox

    db.session.rollback()
    return send_outbox(app)

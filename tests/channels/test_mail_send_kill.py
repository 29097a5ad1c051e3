"""A mail sender killed (SIGKILL) while the SMTP server holds its message: nothing is lost,
the mail in flight is sent again once its claim runs out (at least once, with the same
Message-ID), and every other mail goes out exactly once. Real SMTP server, real process."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from kb.channel_models import OutboundEmail
from kb.db import utcnow
from kb.mail_send import CLAIM_MINUTES
from kb.notifications import notify
from portal.outbox import send_outbox
from tests.channels.smtp_fixture import HOST, SMTPServer, _Collect, free_port

ROOT = Path(__file__).resolve().parents[2]
SENDER = """
import json, sys
from portal import create_app
from portal.outbox import send_outbox
print(send_outbox(create_app(json.loads(sys.argv[1]))), flush=True)
"""


class StallFirst(_Collect):
    """Accepts mail, but holds the first message in DATA until ``release`` is set."""

    def __init__(self, server: SMTPServer):
        super().__init__(server)
        self.holding = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    async def handle_DATA(self, server, session, envelope):
        self.calls += 1
        if self.calls == 1:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def stalling_smtp():
    server = SMTPServer(HOST, free_port())
    handler = StallFirst(server)
    controller = Controller(handler, hostname=HOST, port=server.port, ready_timeout=5)
    controller.start()
    try:
        yield server, handler
    finally:
        handler.release.set()
        controller.stop()


def rows(session) -> list[dict]:
    """The outbox as plain values, read in a transaction of its own (the senders commit in
    theirs; on SQLite an open transaction of ours would hold their write lock)."""
    session.rollback()
    out = [{"status": r.status, "attempts": r.attempts, "next": r.next_attempt_at, "message_id": r.message_id}
           for r in session.query(OutboundEmail).order_by(OutboundEmail.id)]
    session.rollback()
    return out


def test_a_sender_killed_mid_send_loses_nothing_and_the_claim_resends(app, session, make_user, stalling_smtp):
    server, handler = stalling_smtp
    server.configure(app)
    users = [make_user() for _ in range(3)]
    for n, user in enumerate(users):
        notify(session, user.id, "reply", f"Update number {n}")
    session.commit()
    assert [r["status"] for r in rows(session)] == ["pending"] * 3

    keys = ("TESTING", "INSTANCE_PATH", "SQLALCHEMY_DATABASE_URI", "SEARCH_BACKEND", "SEARCH_DATABASE_URL",
            "INDEX_PATH", "EMBEDDING_MODEL", "WORKER", "SECRET_KEY", "SMTP_HOST", "SMTP_PORT",
            "SMTP_SECURITY", "SMTP_USER", "SMTP_TIMEOUT")
    config = {k: app.config[k] for k in keys}
    session.rollback()  # SQLite: our read transaction would hold the sender's write lock
    proc = subprocess.Popen([sys.executable, "-c", SENDER, json.dumps(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert handler.holding.wait(60), proc.stderr.read().decode() if proc.poll() is not None else "no DATA"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    handler.release.set()  # worst case: the server keeps what it had (the sender never heard "250")

    first, *rest = rows(session)
    assert first["status"] == "pending" and first["attempts"] == 1 and first["next"] > utcnow()  # claimed
    assert [(r["status"], r["attempts"]) for r in rest] == [("pending", 0), ("pending", 0)]

    # The next sender sends the other two and leaves the claimed one alone ...
    assert send_outbox(app) == {"sent": 2, "failed": 0, "retry": 0}
    assert [r["status"] for r in rows(session)] == ["pending", "sent", "sent"]
    # ... until its claim has run out; then it goes again, under the same Message-ID.
    later = utcnow() + timedelta(minutes=CLAIM_MINUTES + 1)
    assert send_outbox(app, now=later) == {"sent": 1, "failed": 0, "retry": 0}
    assert [r["status"] for r in rows(session)] == ["sent"] * 3

    got = Counter(m.message["Message-ID"] for m in server.messages)
    ids = [f"<{r['message_id']}@" for r in rows(session)]
    count = {i: sum(n for mid, n in got.items() if mid.startswith(i)) for i in ids}
    assert count[ids[0]] in (1, 2) and count[ids[1]] == 1 and count[ids[2]] == 1, got
    assert sum(count.values()) == len(server.messages)

"""A real IMAP server on loopback: Debian's dovecot, started once per test session from a
minimal configuration written to a temporary folder.

``imap_server`` yields an :class:`ImapServer`; ``server.mailbox()`` hands out a fresh
account (its own Maildir) for one test, so tests never see each other's mail. A :class:`Mailbox`
delivers messages with APPEND, reads their flags, and gives the ``IMAP_*`` config keys.

As root, dovecot's own users from the package (``dovenull`` for logins, ``dovecot`` for
internals and as the owner of the mail) are used, because dovecot refuses to access mail
as root; as anyone else, everything runs as that user. The folder is made with
``tempfile.mkdtemp`` rather than pytest's ``tmp_path``, whose parents are private to the
user running pytest and so unreachable for dovecot's unprivileged processes.
"""
from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.channels.smtp_fixture import free_port

HOST = "127.0.0.1"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
START_TIMEOUT = 15.0
ACCOUNTS = 100


@dataclass
class Mailbox:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"

    def config(self, **overrides) -> dict:
        """The app.config keys that point the intake at this mailbox."""
        return {"IMAP_HOST": self.host, "IMAP_PORT": self.port, "IMAP_USER": self.user,
                "IMAP_PASSWORD": self.password, "IMAP_SECURITY": "none", "IMAP_FOLDER": self.folder,
                "IMAP_AFTER": "seen", **overrides}

    def connect(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def append(self, raw: bytes, flags: str = "") -> int:
        """Deliver one message; returns its UID."""
        conn = self.connect()
        try:
            typ, data = conn.append(self.folder, f"({flags})" if flags else None, None, raw)
            assert typ == "OK", data
            return int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
        finally:
            conn.logout()

    def flags(self) -> dict[int, set[str]]:
        """UID -> flags of every message still in the folder."""
        conn = self.connect()
        try:
            conn.select(self.folder, readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            out = {}
            for line in data or []:
                uid, flags = re.search(rb"UID (\d+)", line or b""), re.search(rb"FLAGS \(([^)]*)\)", line or b"")
                if uid and flags:
                    out[int(uid.group(1))] = set(flags.group(1).decode().split())
            return out
        finally:
            conn.logout()


@dataclass
class ImapServer:
    host: str
    port: int
    root: Path
    accounts: list[tuple[str, str]]

    def mailbox(self) -> Mailbox:
        """An account of its own, with an empty INBOX, for one test. The accounts are written
        before dovecot starts: it re-reads a changed passwd file only when its mtime moves,
        which a file rewritten within the same second does not."""
        if not self.accounts:
            pytest.fail(f"all {ACCOUNTS} test mailboxes are used; raise ACCOUNTS in {__name__}")
        user, password = self.accounts.pop()
        return Mailbox(self.host, self.port, user, password)


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        login_user, internal_user, mail_user = "dovenull", "dovecot", pwd.getpwnam("dovecot")
        internal_group = grp.getgrgid(mail_user.pw_gid).gr_name
    else:
        me = pwd.getpwuid(os.geteuid())
        login_user = internal_user = me.pw_name
        internal_group = grp.getgrgid(os.getegid()).gr_name
        mail_user = me
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir(mode=0o755)
    if os.geteuid() == 0:
        os.chown(root / "mail", mail_user.pw_uid, mail_user.pw_gid)
    return f"""
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {min(mail_user.pw_uid, 100)}
mail_location = maildir:{root}/mail/%u/Maildir
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def _wait_for(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    detail = log.read_text(errors="replace") if log.exists() else ""
    pytest.fail(f"dovecot did not start on {HOST}:{port}:\n{detail[-3000:]}")


@pytest.fixture(scope="session")
def imap_server():
    if not os.path.exists(DOVECOT):
        pytest.fail("dovecot is not installed (Debian: apt-get install dovecot-imapd); the IMAP tests need it")
    root = Path(tempfile.mkdtemp(prefix="hd-imap-"))
    root.chmod(0o755)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port), encoding="utf-8")
    accounts = [(f"t{n:03d}{secrets.token_hex(3)}", secrets.token_hex(8)) for n in range(ACCOUNTS)]
    passwd = root / "passwd"
    passwd.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in accounts), encoding="ascii")
    passwd.chmod(0o644)
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, proc, root / "dovecot.log")
        yield ImapServer(HOST, port, root, accounts)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)

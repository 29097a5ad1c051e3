"""Fixtures for the channel tests: real mail servers on loopback."""
from tests.channels.smtp_fixture import smtp_server  # noqa: E402,F401
from tests.channels.imap_fixture import imap_server  # noqa: E402,F401

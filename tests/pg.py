"""PostgreSQL 16 with pgvector for the tests, from the ``pgserver`` wheel (a self-contained
server in a temporary folder, on a Unix socket, started once per test session).

Each test gets a database of its own, copied from a template that already has the schema and
the taxonomy (``CREATE DATABASE ... TEMPLATE``: tens of milliseconds), and dropped afterwards.
"""
from __future__ import annotations

import itertools
import tempfile
import warnings

_server = None
_seq = itertools.count(1)


def server():
    """The session's server (started on first use, stopped at exit by pgserver)."""
    global _server
    if _server is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR not set
            import pgserver

            _server = pgserver.get_server(tempfile.mkdtemp(prefix="helpdesk-pg-"), cleanup_mode="stop")
    return _server


def socket_dir() -> str:
    uri = server().get_uri()
    return uri.split("host=", 1)[1].split("&", 1)[0]


def url(database: str) -> str:
    """A SQLAlchemy URL (psycopg 3 over the Unix socket)."""
    return f"postgresql+psycopg://postgres@/{database}?host={socket_dir()}"


def admin(sql: str) -> None:
    """Run one statement on the ``postgres`` database, outside a transaction."""
    import psycopg

    with psycopg.connect(host=socket_dir(), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def new_database(template: str | None = None) -> str:
    name = f"t{next(_seq)}_{tempfile.mktemp(prefix='', dir='').replace('-', '_')[:8]}".lower()
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_database(name: str) -> None:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

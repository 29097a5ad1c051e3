"""Fixtures for the search library tests (HashEmbedder engines, real model).

``open_engine`` and ``engine`` run each test on both backends: the local one (Whoosh and
vectors in a folder) and PostgreSQL (full-text search and pgvector, on pgserver's PostgreSQL 16
with a database of its own per test).
"""
from __future__ import annotations

import re

import pytest

from search import Document, HashEmbedder, SearchConfig, SearchEngine

BACKENDS = ["local", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def open_engine(backend, tmp_path):
    """``open_engine(name="idx", embedder=None, config=None, allow_mismatch=False)``: the
    engine stored under ``name`` (a folder, or a table prefix in this test's database);
    opening the same name again reopens the same index."""
    opened, database = [], []

    def location(name: str):
        if backend == "local":
            return tmp_path / name
        from tests import pg

        if not database:
            database.append(pg.new_database())
        return pg_dsn(database[0]), "s_" + re.sub(r"[^a-z0-9_]", "_", name.lower())

    def open_(name="idx", embedder=None, config=None, allow_mismatch=False):
        embedder = embedder or HashEmbedder()
        config = config or SearchConfig()
        where = location(name)
        if backend == "local":
            eng = SearchEngine(where, embedder, config, allow_mismatch=allow_mismatch)
        else:
            from search.pg import PgSearchEngine

            eng = PgSearchEngine(where[0], embedder, config, allow_mismatch=allow_mismatch, prefix=where[1])
        opened.append(eng)
        return eng

    def code(name="idx") -> str:
        """Python source that opens the same index with a HashEmbedder (for subprocesses)."""
        where = location(name)
        if backend == "local":
            return f"__import__('search').SearchEngine({str(where)!r}, __import__('search').HashEmbedder())"
        return (f"__import__('search.pg', fromlist=['x']).PgSearchEngine({where[0]!r}, "
                f"__import__('search').HashEmbedder(), prefix={where[1]!r})")

    open_.code = code
    open_.location = location

    yield open_
    for eng in opened:
        eng.close()
    if database:
        from tests import pg

        pg.drop_database(database[0])


def pg_dsn(database: str) -> str:
    from tests import pg

    return f"host={pg.socket_dir()} user=postgres dbname={database}"


@pytest.fixture
def engine(open_engine):
    return open_engine()


@pytest.fixture(scope="session")
def real_embedder():
    from search import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def make_docs():
    """Factory for a small helpdesk corpus with facets, in English and Chinese."""
    return _make_docs


def _make_docs() -> list[Document]:
    return [
        Document("article:1", "Printer paper jam", "Open tray 2, pull the jammed sheet out gently.",
                 ("printer", "hardware"), {"audience": "public", "status": "published", "category": "hardware"}, "v1"),
        Document("article:2", "VPN client will not connect", "Reinstall the VPN client and check your token.",
                 ("vpn", "network"), {"audience": "staff", "status": "published", "category": "network"}, "v1"),
        Document("article:3", "Reset your password", "Use the self-service portal to reset a forgotten password.",
                 ("account",), {"audience": "public", "status": "draft", "category": "account"}, "v1"),
        Document("article:4", "打印机卡纸怎么办", "打开纸盒，轻轻取出卡住的纸张，然后重新启动打印机。",
                 ("打印机",), {"audience": "public", "status": "published", "category": "hardware", "lang": "zh"}, "v1"),
        Document("article:5", "Wi-Fi keeps dropping", "Forget the network and rejoin; update the wireless driver.",
                 ("network",), {"audience": "internal", "status": "published", "category": "network"}, "v1"),
        Document("article:6", "Outlook calendar not syncing", "Remove and re-add the Exchange account in Outlook.",
                 (), {}, "v1"),  # no facets at all: must never pass a facet filter
    ]

"""Fixtures for the search library tests (HashEmbedder engines, real model)."""
from __future__ import annotations


import pytest

from search import Document, HashEmbedder, SearchEngine



@pytest.fixture
def engine(tmp_path):
    eng = SearchEngine(tmp_path / "idx", HashEmbedder())
    yield eng
    eng.close()


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

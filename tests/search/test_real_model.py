"""Tests with the real all-MiniLM-L6-v2 model (never skipped)."""
from __future__ import annotations

import numpy as np

from search import Document


def test_embeddings_are_normalised_384(real_embedder):
    vecs = real_embedder.encode(["VPN will not connect", "打印机卡纸", ""])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[:2], axis=1), 1.0, atol=1e-4)
    assert real_embedder.dim == 384 and real_embedder.name == "all-MiniLM-L6-v2"


def test_paraphrase_without_shared_words(open_engine, real_embedder):
    eng = open_engine(embedder=real_embedder)
    eng.index([
        Document("battery", "Notebook battery dead", "If the notebook shows no lights, charge the battery "
                 "for an hour with the original adapter, then hold the start button for 30 seconds."),
        Document("printer", "Printer paper jam", "Open tray 2 and gently pull out the stuck sheet."),
        Document("vpn", "VPN client cannot connect", "Reinstall the VPN client and renew your token."),
    ])
    query = "my laptop will not power on"
    assert eng.query(query, mode="keyword") == []  # no shared words after analysis
    for mode in ("semantic", "hybrid"):
        assert eng.query(query, mode=mode)[0].id == "battery"

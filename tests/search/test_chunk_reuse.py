"""Only new chunk text is embedded: upserts and rebuilds reuse the vectors the index holds
(both backends)."""
from __future__ import annotations

import dataclasses

import numpy as np

from search import Document, HashEmbedder
from search.pipeline import chunk_key


class CountingEmbedder(HashEmbedder):
    """HashEmbedder that records every text it is asked to encode."""

    def __init__(self, dim: int = 256, name: str | None = None):
        super().__init__(dim)
        if name:
            self.name = name
        self.encoded: list[str] = []

    def encode(self, texts, *, batch_size: int = 32):
        self.encoded.extend(texts)
        return super().encode(texts, batch_size=batch_size)


def long_doc(doc_id: str, n_paragraphs: int = 6, version: str = "v1") -> Document:
    paragraphs = [f"Step {i}: " + " ".join(f"word{i}x{j}" for j in range(60)) for i in range(n_paragraphs)]
    return Document(doc_id, f"Guide {doc_id}", "\n\n".join(paragraphs), ("guide",), {"status": "published"}, version)


def test_reindexing_unchanged_documents_encodes_nothing(open_engine, make_docs):
    emb = CountingEmbedder()
    eng = open_engine(embedder=emb)
    docs = make_docs() + [long_doc("article:long")]
    eng.index(docs)
    first = len(emb.encoded)
    assert first >= len(docs) + 2  # the long article has several windows
    before = [(h.id, round(h.score, 6)) for h in eng.query("printer jam tray", limit=5)]
    emb.encoded.clear()

    eng.index([dataclasses.replace(d, version="v2") for d in docs])
    assert emb.encoded == []
    assert eng.versions()["article:1"] == "v2"
    assert [(h.id, round(h.score, 6)) for h in eng.query("printer jam tray", limit=5)] == before


def indexed_long_doc(open_engine):
    """(embedder, engine, document, windows encoded) after indexing one long article."""
    emb = CountingEmbedder()
    eng = open_engine(embedder=emb)
    doc = long_doc("article:long")
    eng.index([doc])
    windows = len(emb.encoded)
    emb.encoded.clear()
    return emb, eng, doc, windows


def test_an_edit_re_embeds_only_the_windows_it_changed(open_engine):
    emb, eng, doc, windows = indexed_long_doc(open_engine)

    edited = dataclasses.replace(doc, body=doc.body + " The fix: restart the print spooler service.",
                                 version="v2")
    eng.index([edited])
    assert 1 <= len(emb.encoded) < windows
    assert any("print spooler" in t for t in emb.encoded)

    # The stored vectors are exactly what a fresh index computes for the edited text.
    fresh = open_engine("fresh", embedder=HashEmbedder())
    fresh.index([edited])
    for mode in ("semantic", "hybrid"):
        got = eng.query("restart the print spooler", mode=mode, limit=1)
        want = fresh.query("restart the print spooler", mode=mode, limit=1)
        assert [(h.id, round(h.score, 6), h.passage) for h in got] == \
               [(h.id, round(h.score, 6), h.passage) for h in want]


def test_a_title_change_re_embeds_every_window(open_engine):
    emb, eng, doc, windows = indexed_long_doc(open_engine)
    eng.index([dataclasses.replace(doc, title="Printer guide", version="v2")])
    assert len(emb.encoded) == windows  # the title heads every embedded window


def test_rebuild_reuses_live_vectors_but_not_another_models(open_engine, make_docs):
    emb = CountingEmbedder()
    eng = open_engine(embedder=emb)
    docs = make_docs() + [long_doc("article:long")]
    eng.index(docs)
    emb.encoded.clear()
    with eng.begin_rebuild(resume=False) as rb:
        rb.add(docs[:-1] + [dataclasses.replace(docs[-1], title="Renamed guide")])
        rb.commit()
    assert emb.encoded and all(t.startswith("Renamed guide") for t in emb.encoded)
    assert eng.count() == len(docs)

    # Another model (same dimension, other name) reuses nothing from this index.
    other = CountingEmbedder(name="other-model")
    eng2 = open_engine(embedder=other, allow_mismatch=True)
    with eng2.begin_rebuild(resume=False) as rb:
        rb.add(docs)
        rb.commit()
    assert len(other.encoded) >= len(docs) + 2
    assert eng2.query("printer jam", limit=1)[0].id == "article:1"


def test_chunk_key_depends_on_model_and_exact_text():
    assert chunk_key("m", "a b") == chunk_key("m", "a b")
    assert len({chunk_key("m", "a b"), chunk_key("m", "a  b"), chunk_key("n", "a b")}) == 3


def test_reused_and_new_windows_in_one_batch_keep_their_rows(open_engine):
    emb = CountingEmbedder()
    eng = open_engine(embedder=emb)
    a, b = long_doc("article:a"), long_doc("article:b", n_paragraphs=3)
    eng.index([a])
    emb.encoded.clear()
    b2 = dataclasses.replace(b, title="Other guide")
    eng.index([a, b2])
    assert emb.encoded and all(t.startswith("Other guide") for t in emb.encoded)
    fresh = open_engine("fresh", embedder=HashEmbedder())
    fresh.index([a, b2])
    for text in ("Guide article:a word3x7", "Other guide word1x2", "word0x5 word2x9"):
        got = [(h.id, round(h.score, 6)) for h in eng.query(text, mode="semantic", limit=2)]
        assert got == [(h.id, round(h.score, 6)) for h in fresh.query(text, mode="semantic", limit=2)]

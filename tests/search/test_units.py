"""Highlighting, fusion arithmetic, chunking, analysis, ANN recall."""
from __future__ import annotations

import numpy as np
import pytest

from search import Document, HashEmbedder, SearchConfig, SearchEngine, highlight
from search.analysis import terms
from search.chunking import chunk_text, document_chunks
from search.fusion import ranked, relative_score, rrf
from search.pipeline import Entry
from search.vectors import VectorData, measure_recall


def test_highlight_escapes_and_marks():
    text = "<script>alert('x')</script> When the printers are jammed, open tray 2 & pull gently."
    out = highlight(text, "printer jam")
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out
    assert "<mark>printers</mark>" in out and "<mark>jammed</mark>" in out
    assert out.count("<mark>") == 2


def test_highlight_window_and_no_match():
    text = "intro " * 100 + "the VPN token expired, renew the VPN token " + "outro " * 100
    out = highlight(text, "vpn token", width=80)
    assert "<mark>VPN</mark>" in out and out.startswith("…") and out.endswith("…")
    assert len(out.replace("<mark>", "").replace("</mark>", "")) < 130
    assert highlight("a <b>bold</b> claim", "nothing") == "a &lt;b&gt;bold&lt;/b&gt; claim"
    assert highlight("", "x") == ""


def test_highlight_chinese():
    out = highlight("如果打印机卡纸，请打开纸盒取出纸张。", "打印机卡纸")
    assert "<mark>打印机卡纸</mark>" in out


def test_rrf_arithmetic():
    scores = rrf([(["a", "b", "c"], 1.0), (["b", "d"], 2.0)], k=60)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["b"] == pytest.approx(1 / 62 + 2 / 61)
    assert scores["c"] == pytest.approx(1 / 63)
    assert scores["d"] == pytest.approx(2 / 62)
    assert [d for d, _ in ranked(scores)] == ["b", "d", "a", "c"]
    assert rrf([(["a"], 0.0)], k=60) == {}


def test_relative_score_arithmetic():
    scores = relative_score([([("a", 10.0), ("b", 5.0), ("c", 0.0)], 1.0),
                             ([("b", 0.9), ("d", 0.5)], 3.0)])
    assert scores["a"] == pytest.approx(0.25 * 1.0)
    assert scores["b"] == pytest.approx(0.25 * 0.5 + 0.75 * 1.0)
    assert scores["c"] == pytest.approx(0.0)
    assert scores["d"] == pytest.approx(0.0)
    assert ranked(scores)[0][0] == "b"


def test_hybrid_rrf_mode_uses_rrf(tmp_path):
    eng = SearchEngine(tmp_path, HashEmbedder(), SearchConfig(fusion="rrf", rrf_k=60, keyword_weight=1.0))
    eng.index([Document("a", "printer jam", "tray"), Document("b", "vpn", "token")])
    hit = eng.query("printer jam")[0]
    assert hit.id == "a" and hit.score == pytest.approx(1 / 61 + 1 / 61)


def test_chunking_overlap_and_cjk():
    words = [f"w{i}" for i in range(250)]
    chunks = chunk_text(" ".join(words), 100, 20)
    assert chunks[0].split()[0] == "w0" and chunks[-1].split()[-1] == "w249"
    assert chunks[1].split()[0] == "w80"  # 20 words of overlap
    zh = "请先关闭打印机电源然后打开纸盒。" * 80
    zh_chunks = chunk_text(zh, 100, 20)
    assert len(zh_chunks) > 3 and all(len(c) <= 260 for c in zh_chunks)
    assert "".join(zh_chunks).count("请先") >= 80  # nothing dropped
    assert document_chunks("Title", "", ("tag",)) == [("Title (tag)", "")]
    assert document_chunks("T", "see [the docs](http://x.io/a) now") == [("T. see the docs now", "see the docs now")]


def test_analysis_terms():
    assert terms("The Printers are JAMMED") == ["printer", "jam"]
    assert "打印机" in terms("打印机卡纸") and "卡纸" in terms("打印机卡纸")
    assert terms("x" * 500) == []


def test_hash_embedder_properties():
    emb = HashEmbedder(64)
    a = emb.encode(["reset password", "reset password", ""])
    assert a.dtype == np.float32 and a.shape == (3, 64)
    assert np.allclose(np.linalg.norm(a[:2], axis=1), 1.0) and np.allclose(a[0], a[1])
    assert emb.name == "hash-64"


def test_ann_recall_against_exact():
    assert measure_recall(n=20000, dim=64, queries=100, k=10) >= 0.9


def test_store_switches_to_ann_and_matches_exact(tmp_path):
    rng = np.random.default_rng(1)
    n, dim = 3000, 32
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    data = VectorData.empty(dim).upsert(
        [Entry(Document(f"d{i}", "", "", (), {"grp": str(i % 3)}, "1"), [f"c{i}"], vecs[i:i + 1], [f"k{i}"])
         for i in range(n)])
    data.save(tmp_path, ann_threshold=1000)
    loaded = VectorData.load(tmp_path, dim, ann_threshold=1000)
    exact = VectorData.load(tmp_path, dim, ann_threshold=10**9)
    assert loaded.ann is not None and exact.ann is None
    assert len(list(tmp_path.glob("ann-*.usearch"))) == 1
    mask = loaded.doc_mask({"grp": ["1"]})
    recall = []
    for q in vecs[:20]:
        approx = loaded.search(q, 10, mask)
        assert all(loaded.facets[d]["grp"] == "1" for d, _, _ in approx)
        truth = {d for d, _, _ in exact.search(q, 10, mask)}
        recall.append(len(truth & {d for d, _, _ in approx}) / 10)
    assert np.mean(recall) >= 0.9


def test_chinese_function_words_are_not_terms_or_highlighted():
    from search import highlight
    from search.analysis import terms

    assert set(terms("打印机又卡纸了怎么办")) >= {"打印机", "卡纸"}
    assert not {"又", "了", "怎么办"} & set(terms("打印机又卡纸了怎么办"))
    snippet = highlight("打印机又卡纸了，请先关机再取纸。", "打印机又卡纸了")
    assert "<mark>打印机</mark>" in snippet and "<mark>了</mark>" not in snippet and "<mark>又</mark>" not in snippet

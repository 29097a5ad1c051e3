"""Retrieval evaluation on BEIR-layout data sets (nDCG@10, recall, MRR, latency).

The corpus is indexed into a temporary index through exactly the same engine
and pipeline as production, so the numbers measure what users get.

    python -m search.evaluation DATASET_DIR --mode hybrid [--json] [--embedder hash|int8|PATH]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .embedders import Embedder, load_embedder
from .engine import SearchEngine
from .types import Document, SearchConfig


def load_beir(dataset_dir) -> tuple[dict[str, dict], dict[str, str], dict[str, dict[str, int]]]:
    """corpus {id: {title, text}}, queries {id: text}, qrels {qid: {docid: score}} (test split)."""
    root = Path(dataset_dir)
    corpus, queries, qrels = {}, {}, {}
    with open(root / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                corpus[str(row["_id"])] = {"title": row.get("title", ""), "text": row.get("text", "")}
    with open(root / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
    with open(root / "qrels" / "test.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return corpus, queries, qrels


def _ndcg(ranked: list[str], rels: dict[str, int], k: int) -> float:
    dcg = sum((2 ** rels.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum((2 ** r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def evaluate(engine: SearchEngine, queries, qrels, *, mode: str, k: int = 10) -> dict:
    """Metrics over every query that has positive judgements."""
    ndcg, r5, r10, mrr, lat = [], [], [], [], []
    for qid, text in queries.items():
        rels = {d: s for d, s in qrels.get(qid, {}).items() if s > 0}
        if not rels:
            continue
        t0 = time.perf_counter()
        hits = engine.query(text, limit=max(k, 10), mode=mode)
        lat.append((time.perf_counter() - t0) * 1000)
        ranked = [h.id for h in hits]
        ndcg.append(_ndcg(ranked, rels, k))
        r5.append(len(set(ranked[:5]) & rels.keys()) / len(rels))
        r10.append(len(set(ranked[:10]) & rels.keys()) / len(rels))
        mrr.append(next((1 / (i + 1) for i, d in enumerate(ranked[:10]) if d in rels), 0.0))
    mean = lambda xs: round(float(np.mean(xs)), 4) if xs else 0.0  # noqa: E731
    return {"mode": mode, f"ndcg@{k}": mean(ndcg), "recall@5": mean(r5), "recall@10": mean(r10),
            "mrr@10": mean(mrr), "queries": len(ndcg),
            "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 2) if lat else 0.0,
                           "p95": round(float(np.percentile(lat, 95)), 2) if lat else 0.0}}


def build_engine(dataset_dir, workdir, embedder: Embedder, config: SearchConfig, dsn: str | None = None):
    """The corpus indexed in a local folder, or with ``dsn`` in PostgreSQL tables of their own
    (prefix ``eval_<pid>``, dropped by :func:`run_eval`)."""
    corpus, _, _ = load_beir(dataset_dir)
    if dsn:
        from .pg import PgSearchEngine

        engine = PgSearchEngine(dsn, embedder, config, prefix=f"eval_{os.getpid()}")
    else:
        engine = SearchEngine(workdir, embedder, config)
    engine.index(Document(id=i, title=d["title"], body=d["text"]) for i, d in corpus.items())
    return engine


def run_eval(dataset_dir, *, mode: str, embedder: Embedder, workdir: str | Path | None = None,
             config: SearchConfig = SearchConfig(), dsn: str | None = None) -> dict:
    """Index the corpus in a temporary (or given) folder, or in PostgreSQL when ``dsn`` is
    given, and evaluate one mode."""
    _, queries, qrels = load_beir(dataset_dir)
    with tempfile.TemporaryDirectory(prefix="search-eval-") as tmp:
        engine = build_engine(dataset_dir, Path(workdir) if workdir else Path(tmp), embedder, config, dsn)
        try:
            engine.query("warm up", mode=mode)
            result = evaluate(engine, queries, qrels, mode=mode, k=10)
            result["backend"] = "postgresql" if dsn else "local"
            return result
        finally:
            if dsn:
                engine.drop()
            engine.close()


def format_table(results: list[dict]) -> str:
    head = f"{'mode':<9} {'nDCG@10':>8} {'R@5':>7} {'R@10':>7} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7} {'queries':>7}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r['mode']:<9} {r['ndcg@10']:>8.4f} {r['recall@5']:>7.4f} {r['recall@10']:>7.4f} "
                    f"{r['mrr@10']:>7.4f} {r['latency_ms']['p50']:>7.2f} {r['latency_ms']['p95']:>7.2f} "
                    f"{r['queries']:>7}")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.evaluation", description=__doc__.split("\n")[0])
    parser.add_argument("dataset_dir")
    parser.add_argument("--mode", choices=["keyword", "semantic", "hybrid"], default="hybrid")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--embedder", default=None, help='"hash", "int8" (MiniLM quantised), a model folder or '
                        '"int8:FOLDER" (default: MiniLM)')
    parser.add_argument("--dsn", default=None, help="evaluate the PostgreSQL backend in this database")
    args = parser.parse_args(argv)
    result = run_eval(args.dataset_dir, mode=args.mode, embedder=load_embedder(args.embedder), dsn=args.dsn)
    print(json.dumps(result) if args.json else format_table([result]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

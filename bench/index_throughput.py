"""Indexing throughput of the search library with the real MiniLM model.

Builds N realistic articles at run time from the evaluation data (stackfaq
answers + IT-ticket descriptions; nothing is copied into the repository),
indexes them into a temporary index and prints docs/s and chunks/s as JSON.

    python bench/index_throughput.py --n 300
    python bench/index_throughput.py --n 200 --embedder fp32 --embedder int8 --rounds 2

Several ``--embedder`` values are run in one process, alternating per round (each
model loaded once), and the last line gives each one's chunks/s relative to the
first, per round and the median: on a shared machine a ratio from runs back to back
says more than two separate runs.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search import Document, SearchEngine, load_embedder  # noqa: E402
from bench._data import faq_docs, ticket_rows  # noqa: E402

def make_articles(n: int, seed: int = 0) -> list[Document]:
    """Articles: a stackfaq title/answer plus 1-4 ticket descriptions as "symptoms"."""
    tickets = [r for r in ticket_rows() if (r.get("description") or "").strip()]
    rng = random.Random(seed)
    faq = faq_docs()
    docs = []
    for i in range(n):
        base = faq[i % len(faq)]
        picked = rng.sample(tickets, rng.randint(1, 4))
        symptoms = "\n\n".join(" ".join(t["description"].split()) for t in picked)
        title = base["title"] if i % 2 == 0 else picked[0]["short_description"].strip() or base["title"]
        body = f"## Symptoms\n\n{symptoms}\n\n## Resolution\n\n{base['text']}"
        fields = {"audience": rng.choice(["public", "staff"]), "status": "published",
                  "category": picked[0]["assignment_group"], "lang": "en"}
        docs.append(Document(f"article:{i}", title, body, (picked[0]["assignment_group"],), fields, str(i)))
    return docs


def run(docs: list[Document], embedder, threads: int | None = None) -> dict:
    """Index ``docs`` into a fresh temporary index; one JSON-able result."""
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        engine = SearchEngine(tmp, embedder)
        t0 = time.perf_counter()
        indexed = engine.index(docs)
        seconds = time.perf_counter() - t0
        stats = engine.stats()
        engine.close()
    words = sum(len(d.body.split()) for d in docs) / max(1, len(docs))
    out = {"n": indexed, "chunks": stats["chunks"], "seconds": round(seconds, 2),
           "docs_per_s": round(indexed / seconds, 2),
           "chunks_per_s": round(stats["chunks"] / seconds, 2),
           "avg_body_words": round(words, 1), "embedder": stats["embedder"]}
    if threads:
        out["threads"] = threads
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="number of articles (default 500)")
    parser.add_argument("--embedder", action="append", default=None,
                        help='"fp32" (default MiniLM), "int8" (MiniLM quantised), "hash" or a model folder; '
                             "repeat to compare several in one run")
    parser.add_argument("--rounds", type=int, default=1, help="runs per embedder, interleaved (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before the runs")
    args = parser.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    docs = make_articles(args.n)
    specs = args.embedder or [None]
    embedders = [load_embedder(None if spec in (None, "", "fp32") else spec) for spec in specs]
    rounds: list[dict[str, float]] = []
    for _ in range(max(1, args.rounds)):
        rates = {}
        for embedder in embedders:
            result = run(docs, embedder, args.threads)
            rates[embedder.name] = result["chunks_per_s"]
            print(json.dumps(result), flush=True)
        rounds.append(rates)
    if len(embedders) > 1:
        # the ratio within each round (runs back to back) is the figure to trust on a busy machine
        first = embedders[0].name
        per_round = [{name: round(v / r[first], 2) for name, v in r.items()} for r in rounds]
        print(json.dumps({"ratio_to_first_per_round": per_round,
                          "median_ratio_to_first": {name: round(statistics.median(r[name] for r in per_round), 2)
                                                    for name in rounds[0]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

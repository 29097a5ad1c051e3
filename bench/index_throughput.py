"""Indexing throughput of the search library with the real MiniLM model.

Builds N realistic articles at run time from the evaluation data (stackfaq
answers + IT-ticket descriptions; nothing is copied into the repository),
indexes them into a temporary index and prints docs/s and chunks/s as JSON.

    python bench/index_throughput.py --n 300
"""
from __future__ import annotations

import argparse
import json
import random
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="number of articles (default 500)")
    parser.add_argument("--embedder", default=None, help='"hash" or a model folder (default: MiniLM)')
    args = parser.parse_args(argv)
    docs = make_articles(args.n)
    embedder = load_embedder(args.embedder)
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        engine = SearchEngine(tmp, embedder)
        t0 = time.perf_counter()
        indexed = engine.index(docs)
        seconds = time.perf_counter() - t0
        stats = engine.stats()
        engine.close()
    words = sum(len(d.body.split()) for d in docs) / max(1, len(docs))
    print(json.dumps({"n": indexed, "chunks": stats["chunks"], "seconds": round(seconds, 2),
                      "docs_per_s": round(indexed / seconds, 2),
                      "chunks_per_s": round(stats["chunks"] / seconds, 2),
                      "avg_body_words": round(words, 1), "embedder": stats["embedder"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What embedding only changed chunks saves: cold index, edits, full rebuild, per backend.

With the real MiniLM model, N articles built at run time from the evaluation data
(bench/index_throughput.py's generator) go through three phases on each backend:

* cold: a new index, every window encoded (what every rebuild cost before chunk reuse);
* edit: 10% of the articles get a new closing paragraph and are upserted;
* rebuild: a full rebuild (``begin_rebuild``) of all N, edited ones included.

Prints one JSON line per backend and phase: seconds, articles/s, and how many texts the model
actually encoded.

    python -m bench.reindex_reuse --n 200 --backends local postgresql
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import warnings

from bench.index_throughput import make_articles
from search import SearchEngine, load_embedder


class Counting:
    """Passes through to an embedder and counts the texts it encodes."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def encode(self, texts, *, batch_size: int = 32):
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size=batch_size)


def open_backend(backend: str, embedder, folder: str):
    if backend == "local":
        return SearchEngine(folder, embedder)
    from search.pg import PgSearchEngine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(folder, cleanup_mode="delete")
    open_backend.server = server  # keep it running
    host = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    return PgSearchEngine(f"host={host} user=postgres dbname=postgres", embedder, prefix="bench")


def phase(backend, name, counting, work, n_docs) -> dict:
    before = counting.texts
    t0 = time.perf_counter()
    work()
    seconds = time.perf_counter() - t0
    return {"backend": backend, "phase": name, "articles": n_docs, "seconds": round(seconds, 2),
            "articles_per_s": round(n_docs / seconds, 1), "texts_encoded": counting.texts - before}


def run(backend: str, docs, counting) -> list[dict]:
    edited = [dataclasses.replace(d, body=d.body + "\n\nIf this did not help, restart and contact the "
                                  "service desk with the error text.", version=d.version + "e")
              for d in docs[::10]]
    changed = {d.id: d for d in edited}
    final = [changed.get(d.id, d) for d in docs]

    def rebuild():
        with engine.begin_rebuild(resume=False) as rb:
            rb.add(final)
            rb.commit()

    with tempfile.TemporaryDirectory(prefix="bench-reuse-") as folder:
        engine = open_backend(backend, counting, folder)
        try:
            out = [phase(backend, "cold", counting, lambda: engine.index(docs), len(docs)),
                   phase(backend, "edit 10%", counting, lambda: engine.index(edited), len(edited)),
                   phase(backend, "rebuild", counting, rebuild, len(final))]
            assert engine.count() == len(docs)
        finally:
            engine.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="articles (default 200)")
    parser.add_argument("--backends", nargs="+", default=["local", "postgresql"],
                        choices=["local", "postgresql"])
    parser.add_argument("--embedder", default=None, help='"hash" or a model folder (default: MiniLM)')
    args = parser.parse_args(argv)
    docs = make_articles(args.n)
    counting = Counting(load_embedder(args.embedder))
    for backend in args.backends:
        for row in run(backend, docs, counting):
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

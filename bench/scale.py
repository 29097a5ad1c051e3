"""Scale: 100,000 chunked articles on both search backends and 1,000,000 tickets in PostgreSQL (issue 7).

    .venv/bin/python -m bench.scale --articles 100000 --tickets 1000000
    .venv/bin/python -m bench.scale --articles 5000 --tickets 50000      # a quick run

**Articles** are made at run time from the evaluation data (``bench._data.articles``: stackfaq
threads, and service-desk incidents combined four to an article, as the 10,000-article latency
benchmark uses; nothing is copied into the repository). Embedding 100,000 of them with the real
model would take hours on 2 cores (about 8 articles/s), so their chunk vectors come from a
*pool*: ``--pool`` distinct chunk windows of the first articles are embedded once with the real
MiniLM model (cached in bench/results/, keyed by the texts), and every chunk gets the real
vector of its window when it is one of them, otherwise a pool vector (picked by a hash of the
text) plus small Gaussian noise, renormalised (cosine to its pool vector about 0.9). This
stand-in "embedder" has the real model's name and dimension, so the chunks go through the
libraries' normal write paths unchanged (``begin_rebuild()`` / ``add()`` / ``flush()`` /
``commit()``, i.e. chunking, ``pipeline.embed_documents``, ``write_entries``), and the time it
spends producing vectors is measured and subtracted: the throughput is that of the *store
path*, embedding excluded.

**Measured per backend** (local: Whoosh + numpy/usearch; PostgreSQL 16 + pgvector from the
``pgserver`` wheel, ``HELPDESK_SEARCH_BACKEND=postgresql``'s engine):

1. rebuild throughput (articles/s and chunks/s written), flushed every ``--block`` articles,
   and the cost of one live upsert (one article saved by the worker) at full size;
2. ``engine.query(text, mode=..., limit=10)`` with the anonymous suggestion filter
   (published, public) and the REAL model encoding each query, warm: p50/p95 for hybrid,
   keyword and semantic over ``--queries`` queries (stackfaq paraphrases and service-desk
   ticket descriptions of 10-60 words). Exact search (``ann_threshold`` raised) is timed on
   ``--exact-queries`` of them and recall@10 of the approximate index against it reported
   (on these pooled vectors, whose many near-identical copies make the exact top 10 a set of
   near-ties, that recall is pessimistic; bench/pg_vectors.py measures it on cleaner data).
   ``--local-block`` raises the local backend's auto-persist (2,000 articles) for the run: each
   local persist rewrites the whole npz and, above ``ann_threshold`` chunks, rebuilds the whole
   usearch HNSW index (every build is timed and reported).

**Tickets**: ``--tickets`` rows in the app's real ``ticket`` table (schema by the migrations,
in the same PostgreSQL database), generated with ``bench.queue_timing``'s shape (two years,
15 % open, six teams) through bulk Core inserts, and a stored vector per ticket in
``ticket_vector`` (COPY; the real vector of one of ``--ticket-pool`` real ticket texts plus
noise). Then, with the real model encoding each text, p50/p95 of the ticket-side queries the
intake path runs: ``duplicates.find_reports`` (GET /api/reports, "N colleagues reported this",
beside every /api/suggest while typing), ``triage_service.suggest`` (category from similar past
tickets, on the new-ticket form) and ``ticket_similarity.similar_resolved`` (ticket page).
/api/suggest itself (``search_articles``) reads no tickets. The article queries are timed once
more with the tickets present.

Prints progress to stderr and one JSON object; also written to bench/results/scale-A-T.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._data import articles, faq_queries, ticket_rows  # noqa: E402
from bench.scale_pool import NOISE, RESULTS, T0, PoolEmbedder, log, machine, pooled, summary  # noqa: E402
from bench.scale_tickets import load_tickets, make_app, measure_tickets, start_pg  # noqa: E402

ANON = {"status": {"published"}, "audience": {"public"}}  # permissions.article_search_filters(anonymous)
def article_docs(n: int):
    from search import Document

    cats = ("hardware", "software", "network", "access", "security")
    return [Document(f"article:{i + 1}", title, body, (),
                     {"audience": "public" if i % 5 else "internal", "status": "published",
                      "category": cats[i % len(cats)], "lang": "en"}, str(i))
            for i, (title, body) in enumerate(articles(n))]


def chunk_pool(docs, size: int, config) -> list[str]:
    from search.chunking import document_chunks

    seen: dict[str, None] = {}
    for d in docs:
        for text, _passage in document_chunks(d.title, d.body, d.tags, config.chunk_words, config.chunk_overlap):
            seen.setdefault(text, None)
            if len(seen) >= size:
                return list(seen)
    return list(seen)


def query_texts(n: int, seed: int = 5) -> list[str]:
    """Paraphrase-like user texts: stackfaq queries and ticket descriptions of 10-60 words."""
    rng = random.Random(seed)
    faq = [q for q in faq_queries() if q.strip()]
    desc = [" ".join(r["description"].split()) for r in ticket_rows()]
    desc = [d for d in desc if 10 <= len(d.split()) <= 60]
    rng.shuffle(faq)
    rng.shuffle(desc)
    half = n // 2 + 1
    out = faq[:half] + desc[:n - min(half, len(faq))]
    rng.shuffle(out)
    return out[:n]


# ------------------------------------------------------------------ search backends
def build_index(engine, docs, pool_emb, block: int) -> dict:
    """Rebuild the whole index through the normal path; store time = wall time - vector time."""
    pool_emb.seconds = 0.0
    t0 = time.perf_counter()
    rebuild = engine.begin_rebuild(resume=False)
    blocks = []
    for start in range(0, len(docs), block):
        b0 = time.perf_counter()
        rebuild.add(docs[start:start + block])
        rebuild.flush(str(start + block))
        blocks.append(round(time.perf_counter() - b0, 2))
        log(f"  {start + len(docs[start:start + block]):,}/{len(docs):,} articles written "
            f"(block {blocks[-1]} s)")
    c0 = time.perf_counter()
    rebuild.commit()
    commit_s = time.perf_counter() - c0
    wall = time.perf_counter() - t0
    store = wall - pool_emb.seconds
    chunks = engine.stats()["chunks"]
    return {"articles": len(docs), "chunks": chunks, "wall_s": round(wall, 1),
            "vector_stand_in_s": round(pool_emb.seconds, 1), "store_s": round(store, 1),
            "articles_per_s": round(len(docs) / store, 1), "chunks_per_s": round(chunks / store, 1),
            "commit_s": round(commit_s, 1), "block_articles": block,
            "first_block_s": blocks[0], "last_block_s": blocks[-1]}


def live_upsert(engine, doc, reps: int) -> dict:
    from dataclasses import replace

    ms = []
    for r in range(reps):
        changed = replace(doc, body=doc.body + f"\n\nUpdated {r}.", version=f"{doc.version}-u{r}")
        t0 = time.perf_counter()
        engine.index([changed])
        ms.append((time.perf_counter() - t0) * 1000)
    return {"reps": reps, "p50_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}


def time_queries(engine, queries, mode: str, warm: int = 10) -> tuple[dict, list[list[str]]]:
    for q in queries[:warm]:
        engine.query(q, filters=ANON, limit=10, mode=mode)
    ms, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = engine.query(q, filters=ANON, limit=10, mode=mode)
        ms.append((time.perf_counter() - t0) * 1000)
        ids.append([h.id for h in hits])
    return summary(ms), ids


def recall(approx: list[list[str]], exact: list[list[str]]) -> float:
    hits = sum(len(set(a) & set(e)) for a, e in zip(approx, exact))
    return round(hits / max(1, sum(len(e) for e in exact)), 4)


def measure_search(make_engine, real, queries, exact_n: int) -> dict:
    from search import SearchConfig

    out = {}
    eng = make_engine(real, SearchConfig())
    try:
        out["stats"] = eng.stats()
        enc = []
        for q in queries:
            t0 = time.perf_counter()
            real.encode([q])
            enc.append((time.perf_counter() - t0) * 1000)
        out["query_encode_alone"] = summary(enc)
        for mode in ("hybrid", "keyword", "semantic"):
            out[mode], ids = time_queries(eng, queries, mode)
            if mode == "semantic":
                approx_ids = ids[:exact_n]
            log(f"  {mode}: {out[mode]}")
    finally:
        eng.close()
    eng = make_engine(real, SearchConfig(ann_threshold=10**12))  # exact search at any size
    try:
        out["exact_semantic"], exact_ids = time_queries(eng, queries[:exact_n], "semantic", warm=3)
        out["exact_hybrid"], _ = time_queries(eng, queries[:exact_n], "hybrid", warm=3)
        log(f"  exact semantic: {out['exact_semantic']}, exact hybrid: {out['exact_hybrid']}")
    finally:
        eng.close()
    out["ann_used"] = bool(out["stats"]["ann"])
    out["semantic_recall@10_vs_exact"] = recall(approx_ids, exact_ids) if out["ann_used"] else 1.0
    return out


ANN_BUILDS: list[tuple[int, float]] = []


def _timed_ann_builds() -> None:
    """Record every usearch HNSW build (vectors, seconds): the local store rebuilds it on each save."""
    from search import vectors

    original = vectors.build_ann

    def build(matrix):
        t0 = time.perf_counter()
        index = original(matrix)
        ANN_BUILDS.append((len(matrix), round(time.perf_counter() - t0, 1)))
        log(f"  usearch HNSW build over {len(matrix):,} vectors: {ANN_BUILDS[-1][1]} s")
        return index

    vectors.build_ann = build


def run_local(docs, pool_emb, real, queries, args) -> dict:
    from search import SearchEngine

    _timed_ann_builds()
    folder = Path(tempfile.mkdtemp(prefix="scale-local-", dir=args.workdir))
    try:
        log("local: rebuild")
        eng = SearchEngine(folder, pool_emb)
        out = {"index": build_index(eng, docs, pool_emb, args.local_block or args.block)}
        log(f"  {out['index']}")
        if args.upsert_reps:
            out["live_upsert_one_article"] = live_upsert(eng, docs[len(docs) // 2], args.upsert_reps)
            log(f"  live upsert: {out['live_upsert_one_article']}")
        eng.close()
        out["ann_builds_vectors_s"] = list(ANN_BUILDS)
        out["disk_mb"] = round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20)
        out.update(measure_search(lambda emb, cfg: SearchEngine(folder, emb, cfg), real, queries, args.exact_queries))
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pg_query_engine(dsn):
    from search.pg import PgSearchEngine

    return lambda emb, cfg: PgSearchEngine(dsn, emb, cfg)


def run_pg(dsn, docs, pool_emb, real, queries, args) -> dict:
    from search.pg import PgSearchEngine

    log("postgresql: rebuild")
    eng = PgSearchEngine(dsn, pool_emb)
    out = {"index": build_index(eng, docs, pool_emb, args.block)}
    log(f"  {out['index']}")
    out["live_upsert_one_article"] = live_upsert(eng, docs[len(docs) // 2], max(3, args.upsert_reps))
    log(f"  live upsert: {out['live_upsert_one_article']}")
    with eng.connection() as conn:
        out["table_mb"] = conn.execute(
            "SELECT round(sum(pg_total_relation_size(c.oid)) / 1048576.0) FROM pg_class c "
            "WHERE c.relkind = 'r' AND c.relname LIKE 'search\\_%'").fetchone()[0]
    eng.close()
    out.update(measure_search(pg_query_engine(dsn), real, queries, args.exact_queries))
    return out


# ------------------------------------------------------------------ PostgreSQL and tickets
class _Done(Exception):
    pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=2000, help="distinct chunk windows embedded for real")
    parser.add_argument("--ticket-pool", type=int, default=1500, help="distinct ticket texts embedded for real")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--exact-queries", type=int, default=100)
    parser.add_argument("--ticket-queries", type=int, default=200)
    parser.add_argument("--block", type=int, default=2000, help="articles per rebuild add()+flush()")
    parser.add_argument("--local-block", type=int, default=None,
                        help="articles per persist on the local backend (raises the library's auto-persist "
                             "of 2,000 for this run; default --block)")
    parser.add_argument("--upsert-reps", type=int, default=2, help="live single-article upserts timed (local: 0 skips)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for query encoding (1: on a loaded 2-core machine 2 threads made "
                             "one encode ~8x slower)")
    parser.add_argument("--backends", nargs="*", default=["local", "postgresql"], choices=["local", "postgresql"],
                        help="search backends to measure (none: tickets only)")
    parser.add_argument("--workdir", default=None, help="folder for the local index and the database (default /tmp)")
    args = parser.parse_args(argv)

    import torch

    from search import SearchConfig, load_embedder

    torch.set_num_threads(args.torch_threads)
    if args.local_block:
        import search.rebuild

        search.rebuild.AUTO_PERSIST_DOCS = max(search.rebuild.AUTO_PERSIST_DOCS, args.local_block)
    started = datetime.now(timezone.utc)
    result = {"command": "python -m bench.scale " + " ".join(sys.argv[1:] if argv is None else argv),
              "started": started.isoformat(timespec="seconds"), "machine_start": machine(),
              "torch_threads": torch.get_num_threads()}
    real = load_embedder(None)
    log(f"building {args.articles:,} articles")
    docs = article_docs(args.articles)
    result["articles_avg_words"] = round(sum(len(d.body.split()) for d in docs) / len(docs), 1)
    texts = chunk_pool(docs, args.pool, SearchConfig())
    log(f"pool: {len(texts)} windows")
    pool_emb = PoolEmbedder(real.name, texts, pooled(RESULTS / "scale-chunk-pool", texts, real))
    queries = query_texts(args.queries)
    result["queries"] = len(queries)
    result["vectors"] = (f"chunk vectors: {len(texts)} distinct windows of the first articles embedded with "
                         f"{real.name}; every other chunk a pool vector + noise (norm {NOISE}), renormalised")
    out_path = RESULTS / f"scale-{args.articles}-{args.tickets}.json"

    def save():
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=2, default=str))

    if "local" in args.backends:
        result["local"] = run_local(docs, pool_emb, real, queries, args)
        from search import rebuild as local_rebuild

        result["local"]["index"]["auto_persist_docs"] = local_rebuild.AUTO_PERSIST_DOCS
        save()
    pgdir = Path(tempfile.mkdtemp(prefix="scale-pg-", dir=args.workdir))
    server = None
    try:
        if "postgresql" not in args.backends and not args.tickets:
            raise _Done
        server, dsn, url, settings = start_pg(pgdir)
        result["postgresql_settings"] = settings
        if "postgresql" in args.backends:
            result["postgresql"] = run_pg(dsn, docs, pool_emb, real, queries, args)
            save()
        result["pool_vectors"] = {"exact_window": pool_emb.exact_hits, "pool_plus_noise": pool_emb.pooled}
        del docs
        if args.tickets:
            app = make_app(url, pgdir / "instance")
            log(f"tickets: {args.tickets:,}")
            result["tickets"] = load_tickets(app, args.tickets, real, args.ticket_pool)
            save()
            tq = query_texts(args.ticket_queries, seed=9)
            result["ticket_queries"] = measure_tickets(app, real, tq, args.ticket_queries)
            if "postgresql" in args.backends:
                from search.pg import PgSearchEngine

                log("article queries again with the tickets present")
                eng = PgSearchEngine(dsn, real)
                try:
                    result["postgresql_with_tickets"] = {m: time_queries(eng, queries, m)[0]
                                                         for m in ("hybrid", "semantic", "keyword")}
                finally:
                    eng.close()
                log(f"  {result['postgresql_with_tickets']}")
            app.extensions["helpdesk_search"].close()
    except _Done:
        pass
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(pgdir, ignore_errors=True)
    result["machine_end"] = machine()
    result["minutes"] = round((time.perf_counter() - T0) / 60, 1)
    save()
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

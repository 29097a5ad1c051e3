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
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._data import articles, faq_queries, ticket_rows  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ANON = {"status": {"published"}, "audience": {"public"}}  # permissions.article_search_filters(anonymous)
NOISE = 0.5  # norm of the noise added to a pool vector before renormalising (cosine ~0.9)
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def pct(values, p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))], 1) if values else 0.0


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50": round(statistics.median(ms), 1), "p95": pct(ms, 95), "max": round(max(ms), 1)}


def machine() -> dict:
    load = os.getloadavg()
    mem = {line.split(":")[0]: line.split()[1] for line in open("/proc/meminfo") if ":" in line}
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in load],
            "mem_total_gib": round(int(mem["MemTotal"]) / 2**20, 1),
            "mem_available_gib": round(int(mem["MemAvailable"]) / 2**20, 1)}


# ------------------------------------------------------------------ vectors from a pool
def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class PoolEmbedder:
    """Stands in for the real model while writing: the real vector of a pooled window, else a
    pool vector chosen by the text's hash plus noise (deterministic per text), renormalised."""

    def __init__(self, name: str, texts: list[str], matrix: np.ndarray):
        self.name, self.dim = name, int(matrix.shape[1])
        self._exact = {t: i for i, t in enumerate(texts)}
        self._pool = matrix.astype(np.float32)
        self.seconds = 0.0
        self.exact_hits = self.pooled = 0

    def encode(self, texts, *, batch_size: int = 32) -> np.ndarray:
        t0 = time.perf_counter()
        texts = list(texts)
        out = np.empty((len(texts), self.dim), np.float32)
        noisy = []
        for j, text in enumerate(texts):
            i = self._exact.get(text)
            if i is None:
                noisy.append(j)
                h = _h(text)
                out[j] = self._pool[h % len(self._pool)]
            else:
                out[j] = self._pool[i]
        if noisy:
            rng = np.random.default_rng(_h(texts[noisy[0]]) ^ len(texts))
            noise = rng.standard_normal((len(noisy), self.dim)).astype(np.float32) * (NOISE / np.sqrt(self.dim))
            rows = out[noisy] + noise
            out[noisy] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        self.exact_hits += len(texts) - len(noisy)
        self.pooled += len(noisy)
        self.seconds += time.perf_counter() - t0
        return out


def pooled(cache: Path, texts: list[str], real) -> np.ndarray:
    """Real-model vectors of ``texts``, cached by their hash (bench/results is not committed)."""
    key = hashlib.sha256("\x1e".join([real.name, *texts]).encode()).hexdigest()[:16]
    path = cache.with_name(f"{cache.stem}-{key}.npy")
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), real.dim), np.float32)
    for start in range(0, len(order), 256):
        idx = order[start:start + 256]
        out[idx] = real.encode([texts[i] for i in idx])
        log(f"  pool {path.stem}: {min(start + 256, len(order))}/{len(order)} embedded")
    log(f"  pool of {len(texts)} embedded with {real.name} in {time.perf_counter() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


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
def start_pg(folder: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(str(folder), cleanup_mode="stop")
    name = "scale"
    server.psql(f'CREATE DATABASE "{name}"')
    # The HNSW graph of 100k+ chunks does not fit pgvector's default 64 MB: the build then
    # degrades badly. A deployment sets this too (docs: see the report).
    server.psql(f"ALTER DATABASE \"{name}\" SET maintenance_work_mem = '1GB'")
    host = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    settings = {}
    for k in ("server_version", "shared_buffers", "work_mem"):
        try:
            settings[k] = [ln.strip() for ln in server.psql(f"SHOW {k}").splitlines() if ln.strip()][2]
        except Exception:  # noqa: BLE001 - informative only
            settings[k] = "?"
    return server, f"host={host} user=postgres dbname={name}", \
        f"postgresql+psycopg://postgres@/{name}?host={host}", settings


def make_app(url: str, folder: Path):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(folder),
                       "INDEX_PATH": str(folder / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                       "SECRET_KEY": "bench-scale"})


def load_tickets(app, n: int, real, pool_size: int, seed: int = 11) -> dict:
    """n tickets (queue_timing's shape) by bulk Core inserts with explicit ids, and one stored
    vector per ticket by COPY (a real ticket text's vector plus noise)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from bench.queue_timing import _ticket, seed_people
    from kb.ticket_similarity import embedding_text
    from kb.tickets import Ticket
    from portal.extensions import db

    rng = random.Random(seed)
    rows = [r for r in ticket_rows() if (r["description"] or "").strip()]
    random.Random(seed).shuffle(rows)
    titles = list(dict.fromkeys(((r["short_description"] or "No subject").strip()[:200] or "No subject",
                                 r["description"].strip()[:600]) for r in rows))[:pool_size]
    matrix = pooled(RESULTS / "scale-ticket-pool", [embedding_text(t, d) for t, d in titles], real)
    index_of = {td: i for i, td in enumerate(titles)}
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    out = {}
    with app.app_context():
        t0 = time.perf_counter()
        upgrade()
        out["migrations_s"] = round(time.perf_counter() - t0, 1)
        session = db.session
        ids, members, owner, subs, lead_of = seed_people(session, rng)
        raw = db.engine.raw_connection()
        pg = raw.driver_connection
        nrng = np.random.default_rng(seed)
        insert_s = vector_s = gen_s = 0.0
        chunk = 20_000
        for start in range(0, n, chunk):
            g0 = time.perf_counter()
            batch = [_ticket(rng, now, titles, ids, members, owner, subs, lead_of)
                     for _ in range(min(chunk, n - start))]
            for k, row in enumerate(batch):
                row["id"] = start + k + 1
            pool_idx = np.fromiter((index_of[(r["title"], r["description"])] for r in batch), np.int64, len(batch))
            vecs = matrix[pool_idx] + nrng.standard_normal((len(batch), matrix.shape[1])).astype(np.float32) \
                * (0.3 / np.sqrt(matrix.shape[1]))
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            gen_s += time.perf_counter() - g0
            i0 = time.perf_counter()
            session.execute(insert(Ticket.__table__), batch)
            session.commit()
            insert_s += time.perf_counter() - i0
            v0 = time.perf_counter()
            with pg.cursor() as cur:
                with cur.copy("COPY ticket_vector (ticket_id, model, vector) FROM STDIN WITH (FORMAT BINARY)") as cp:
                    cp.set_types(["int4", "text", "bytea"])
                    for row, vec in zip(batch, vecs):
                        cp.write_row((row["id"], real.name, vec.tobytes()))
            pg.commit()
            vector_s += time.perf_counter() - v0
            log(f"  {start + len(batch):,}/{n:,} tickets (insert {insert_s:.0f} s, vectors {vector_s:.0f} s)")
        raw.close()
        session.execute(text("SELECT setval(pg_get_serial_sequence('ticket', 'id'), (SELECT max(id) FROM ticket))"))
        session.commit()
        a0 = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE ticket")
            conn.exec_driver_sql("VACUUM ANALYZE ticket_vector")
        out.update({"tickets": n, "generate_s": round(gen_s, 1), "insert_s": round(insert_s, 1),
                    "tickets_per_s": round(n / insert_s), "vector_copy_s": round(vector_s, 1),
                    "vacuum_analyze_s": round(time.perf_counter() - a0, 1),
                    "ticket_text_pool": len(titles), "now": now.isoformat()})
        counts = session.execute(text(
            "SELECT (SELECT count(*) FROM ticket), (SELECT count(*) FROM ticket_vector), "
            "(SELECT round(pg_total_relation_size('ticket') / 1048576.0)), "
            "(SELECT round(pg_total_relation_size('ticket_vector') / 1048576.0)), "
            "(SELECT count(*) FROM ticket WHERE created_at >= now() - interval '24 hours' "
            " AND status IN ('new','assigned','acknowledged','in_progress','waiting_for_requester','reopened'))"
        )).one()
        out.update({"ticket_rows": counts[0], "vector_rows": counts[1], "ticket_mb": counts[2],
                    "ticket_vector_mb": counts[3], "open_in_last_24h": counts[4]})
        db.session.remove()
    return out


def measure_tickets(app, real, texts: list[str], reps: int) -> dict:
    from sqlalchemy import select

    from kb import duplicates, ticket_similarity, triage_service
    from kb.tickets import Ticket
    from kb.users import User
    from portal.extensions import db

    out = {}
    with app.app_context():
        s = db.session
        requester = s.scalars(select(User).where(User.role == "requester").order_by(User.id.desc()).limit(1)).one()
        agent = s.scalars(select(User).where(User.role == "agent").order_by(User.id).limit(1)).one()
        agent_id, requester_id = agent.id, requester.id
        max_id = s.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
        db.session.remove()
        rng = random.Random(3)
        ticket_ids = [rng.randint(1, max_id) for _ in range(reps)]

        def timed(name, fn, items):
            ms = []
            for k, item in enumerate(items[:3] + items):  # 3 warm-ups
                t0 = time.perf_counter()
                fn(item)
                if k >= 3:
                    ms.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
                db.session.remove()
            out[name] = summary(ms)
            log(f"  {name}: {out[name]}")

        timed("find_reports (GET /api/reports)", lambda t: duplicates.find_reports(
            db.session, db.session.get(User, requester_id), t, real, hours=24), texts[:reps])
        timed("triage_service.suggest (new-ticket form)",
              lambda t: triage_service.suggest(db.session, t, real), texts[:reps])
        timed("similar_resolved (ticket page, agent)", lambda tid: ticket_similarity.similar_resolved(
            db.session, db.session.get(User, agent_id), db.session.get(Ticket, tid), real), ticket_ids)
        t0 = time.perf_counter()
        for t in texts[:50]:
            real.encode([t])
        out["encode_ms_mean"] = round((time.perf_counter() - t0) * 1000 / 50, 1)
    return out


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

"""Exact against HNSW vector search in pgvector: recall@10 and latency by collection size.

    .venv/bin/python -m bench.pg_vectors                    # 10k, 50k, 200k chunks
    .venv/bin/python -m bench.pg_vectors --sizes 20000 100000

The vectors are 384-dimensional (MiniLM's size) and clustered like text embeddings are
(unit vectors around 2,000 centres; random vectors without structure are the hardest case for
HNSW and not what a knowledge base looks like), stored as the PostgreSQL backend stores chunks
(`vector(384)`, HNSW `vector_ip_ops`, m 16, ef_construction 64). Each query is a perturbed
stored vector. Exact = the same ORDER BY with index scans off; HNSW at several ef_search.
Says where the approximate index starts to pay, which is what SearchConfig.ann_threshold
(exact below it) is set from. Runs on pgserver's PostgreSQL 16 with pgvector.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DIM = 384


def vectors(n: int, rng) -> np.ndarray:
    centres = rng.standard_normal((2000, DIM)).astype(np.float32)
    data = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def timed(cur, sql, params) -> tuple[float, list]:
    t0 = time.perf_counter()
    # prepare=False: psycopg prepares a statement after 5 runs, and the plan cached while index
    # scans were off (the exact runs) would then serve the HNSW runs too.
    cur.execute(sql, params, prepare=False)
    rows = [r[0] for r in cur.fetchall()]
    return (time.perf_counter() - t0) * 1000, rows


def run(conn, n: int, queries: int, rng) -> dict:
    from pgvector.psycopg import register_vector

    register_vector(conn)
    data = vectors(n, rng)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS bench_chunk")
    cur.execute(f"CREATE TABLE bench_chunk (id int PRIMARY KEY, embedding vector({DIM}) NOT NULL)")
    t0 = time.perf_counter()
    with cur.copy("COPY bench_chunk (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "vector"])
        for i, v in enumerate(data):
            copy.write_row((i, v))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cur.execute("CREATE INDEX ON bench_chunk USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)")
    build_s = time.perf_counter() - t0
    cur.execute("ANALYZE bench_chunk")
    conn.commit()
    picks = rng.integers(0, n, queries)
    qs = data[picks] + 0.3 * rng.standard_normal((queries, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    sql = "SELECT id FROM bench_chunk ORDER BY embedding <#> %s LIMIT 10"
    exact_ms, truth = [], []
    cur.execute("SET enable_indexscan = off")
    for q in qs:
        ms, rows = timed(cur, sql, (q,))
        exact_ms.append(ms)
        truth.append(set(rows))
    cur.execute("SET enable_indexscan = on")
    out = {"chunks": n, "copy_s": round(load_s, 1), "hnsw_build_s": round(build_s, 1),
           "exact": {"p50_ms": round(float(np.percentile(exact_ms, 50)), 1),
                     "p95_ms": round(float(np.percentile(exact_ms, 95)), 1)}}
    cur.execute("EXPLAIN " + sql, (qs[0],))
    out["plan"] = cur.fetchall()[1][0].strip()[:60]
    for ef in (40, 100, 200):
        cur.execute(f"SET hnsw.ef_search = {ef}")
        ms_list, hits = [], 0
        for q, want in zip(qs, truth):
            ms, rows = timed(cur, sql, (q,))
            ms_list.append(ms)
            hits += len(want & set(rows))
        out[f"hnsw_ef{ef}"] = {"recall@10": round(hits / (10 * len(qs)), 4),
                               "p50_ms": round(float(np.percentile(ms_list, 50)), 1),
                               "p95_ms": round(float(np.percentile(ms_list, 95)), 1)}
    conn.rollback()
    cur.execute("DROP TABLE bench_chunk")
    conn.commit()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="bench-pgvec-"), cleanup_mode="delete")
    host = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    rng = np.random.default_rng(7)
    with psycopg.connect(host=host, user="postgres", dbname="postgres") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.commit()
        for n in args.sizes:
            print(json.dumps(run(conn, n, args.queries, rng)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

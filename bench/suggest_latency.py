"""Suggestion latency through HTTP with N articles indexed, and bulk indexing throughput.

    .venv/bin/python bench/suggest_latency.py --articles 10000 --requests 500

Builds (once, cached in bench/results/suggest-N/) an instance with N articles indexed by the
real model through the portal's own reindex, then serves it with gunicorn on loopback and sends
warm sequential GET /api/suggest requests with human-written queries. /healthz is measured in
the same run as the floor, so the result can be read as a ratio on a noisy machine.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._data import articles, faq_queries, ticket_rows  # noqa: E402


def build(instance: Path, n: int) -> dict:
    os.environ["HELPDESK_INSTANCE_PATH"] = str(instance)
    from kb import indexing
    from kb.articles_models import Article
    from kb.taxonomy import get_category, seed_taxonomy
    from portal import create_app
    from portal.extensions import db
    from portal.search_ext import engine

    app = create_app({"WORKER": "off"})
    with app.app_context():
        db.create_all()
        seed_taxonomy(db.session)
        if not db.session.query(Article).count():
            cats = [get_category(db.session, s) for s in ("hardware", "software", "network", "access", "security")]
            for i, (title, body) in enumerate(articles(n)):
                db.session.add(Article(title=title, body=body, category=cats[i % len(cats)], status="published",
                                       audience="public" if i % 5 else "internal", lang="en"))
            db.session.commit()
        eng = engine()
        if eng.count() >= n:
            app.extensions["helpdesk_search"].close()
            return {"reused_index": True}
        start = time.perf_counter()
        done = indexing.reindex(db.session, eng, commit=db.session.commit,
                                progress=lambda d, t: print(f"\rindexing {d}/{t}", end="", file=sys.stderr))
        elapsed = time.perf_counter() - start
        print(file=sys.stderr)
        app.extensions["helpdesk_search"].close()
        return {"articles": done, "seconds": round(elapsed, 1), "articles_per_s": round(done / elapsed, 2)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_get(conn: http.client.HTTPConnection, path: str) -> float:
    start = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    elapsed = (time.perf_counter() - start) * 1000
    if resp.status != 200:
        raise RuntimeError(f"{path} -> {resp.status}")
    return elapsed


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(instance: Path, requests: int) -> dict:
    port = free_port()
    env = dict(os.environ, HELPDESK_INSTANCE_PATH=str(instance), HELPDESK_SUGGEST_RATE_LIMIT="100000 per minute")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                             "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "wsgi:app"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        conn = None
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                timed_get(conn, "/readyz")
                break
            except (OSError, RuntimeError):
                time.sleep(0.5)
        rng = random.Random(3)
        queries = faq_queries() + [r["short_description"] for r in ticket_rows()[:2000]]
        rng.shuffle(queries)
        queries = [q for q in queries if q.strip()]
        for q in queries[:50]:  # warm-up
            timed_get(conn, "/api/suggest?" + urllib.parse.urlencode({"q": q}))
        suggest = [timed_get(conn, "/api/suggest?" + urllib.parse.urlencode({"q": q}))
                   for q in queries[50:50 + requests]]
        health = [timed_get(conn, "/healthz") for _ in range(requests)]
        return {
            "requests": len(suggest),
            "suggest_ms": {"p50": round(statistics.median(suggest), 1), "p95": round(pct(suggest, 95), 1),
                           "max": round(max(suggest), 1)},
            "healthz_ms": {"p50": round(statistics.median(health), 2), "p95": round(pct(health, 95), 2)},
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    instance = ROOT / "bench" / "results" / f"suggest-{args.articles}"
    instance.mkdir(parents=True, exist_ok=True)
    result = {"articles": args.articles, "build": build(instance, args.articles)}
    result.update(measure(instance, args.requests))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

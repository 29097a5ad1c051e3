"""Load: 4 gunicorn workers on loopback, ticket submissions and suggestions from 50 clients.

    .venv/bin/python -m bench.load                       # SQLite + local index, then PostgreSQL
    .venv/bin/python -m bench.load --database sqlite --tickets 1500 --clients 50

For each database (SQLite with the local index; PostgreSQL 16 with pgvector from pgserver and the
PostgreSQL search backend) it prepares a fresh instance through the real commands (`flask setup`:
migrations, demo data, index), gives 50 requesters an API token each, starts gunicorn with
``gunicorn.conf.py`` and 4 workers (the real model, preloaded), and then:

1. **Submissions**: ``--tickets`` POST /api/v1/tickets from ``--clients`` threads, each ticket
   with a unique marker. Afterwards the database is read: every 201 must be there exactly once
   (``lost`` = accepted but missing or duplicated), and every other answer must be a clear JSON
   error (``unclear`` counts answers that are neither).
2. **Suggestions**: the same number of GET /api/v1/search from the same clients: throughput, p50/p95.
3. **During a full reindex**: suggestions again while `flask search reindex` rebuilds the index
   in another process; every request must still be answered (errors counted).

Prints one JSON object per database and writes it to bench/results/load-<database>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
QUERIES = ["vpn keeps disconnecting", "printer paper jam", "reset my password", "outlook not syncing",
           "laptop will not power on", "wifi drops every hour", "打印机卡纸", "cannot log in to the portal",
           "request a new monitor", "teams camera not working"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 1)


def start_pgserver(folder: Path) -> str:
    """A PostgreSQL 16 with pgvector (pgserver) and a new database; returns its SQLAlchemy URL."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(str(folder), cleanup_mode="stop")
    name = f"load_{os.getpid()}"
    server.psql(f'CREATE DATABASE "{name}"')
    host = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    start_pgserver.server = server  # keep it alive
    return f"postgresql+psycopg://postgres@/{name}?host={host}"


def environment(instance: Path, database: str, url: str | None, port: int) -> dict:
    env = dict(os.environ, HELPDESK_INSTANCE_PATH=str(instance), HF_HUB_OFFLINE="1",
               HELPDESK_API_RATE_LIMIT="100000 per minute", HELPDESK_SUGGEST_RATE_LIMIT="100000 per minute",
               HELPDESK_WEB_WORKERS="4", HELPDESK_WEB_THREADS="4", HELPDESK_WEB_BIND=f"127.0.0.1:{port}",
               HELPDESK_REVIEW_PERIODS="", HELPDESK_LOG_LEVEL="WARNING")
    if database == "postgresql":
        env.update(HELPDESK_DATABASE_URL=url, HELPDESK_SEARCH_BACKEND="postgresql")
    return env


TOKENS = """
from kb.api_tokens import create_token
from kb.users import create_user
from portal import create_app
from portal.extensions import db
import json, sys
app = create_app()
out = []
with app.app_context():
    for i in range(int(sys.argv[1])):
        user = create_user(db.session, None, email=f"load{i}@contoso.example", name=f"Load {i}",
                           password="load-test-password-1", role="requester")
        out.append(create_token(db.session, user, "load test")[1])
    db.session.commit()
print(json.dumps(out))
"""


def prepare(env: dict, clients: int) -> list[str]:
    subprocess.run([BIN / "flask", "--app", "wsgi", "setup"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run([BIN / "python", "-c", TOKENS, str(clients)], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_gunicorn(env: dict, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([BIN / "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"], env=env, cwd=ROOT,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}")
            time.sleep(0.5)
    raise RuntimeError(f"gunicorn did not answer in 180 s; see {log}")


def call(port: int, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, float, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError:
        return 0, (time.perf_counter() - t0) * 1000, None  # connection refused/reset/timeout
    ms = (time.perf_counter() - t0) * 1000
    try:
        return status, ms, json.loads(raw)
    except ValueError:
        return status, ms, None


def submissions(port: int, tokens: list[str], total: int, run: str) -> dict:
    def one(i: int):
        token = tokens[i % len(tokens)]
        marker = f"{run}-{i}"
        status, ms, data = call(port, token, "POST", "/api/v1/tickets", {
            "title": f"Load test {marker}: VPN drops", "description": f"Marker {marker}. The VPN client "
            "disconnects every few minutes since this morning, on wifi and on cable."})
        ticket_id = (data or {}).get("ticket", {}).get("id") if status == 201 else None
        clear = status == 201 or (status >= 400 and isinstance(data, dict) and "error" in data)
        return marker, status, ms, ticket_id, clear

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        results = list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - t0
    accepted = [r for r in results if r[1] == 201]
    return {"results": results, "elapsed": elapsed,
            "summary": {"submitted": total, "accepted": len(accepted), "rejected": total - len(accepted),
                        "unclear": sum(1 for r in results if not r[4]),
                        "statuses": {str(s): sum(1 for r in results if r[1] == s) for s in sorted({r[1] for r in results})},
                        "p50_ms": percentile([r[2] for r in accepted], 50),
                        "p95_ms": percentile([r[2] for r in accepted], 95),
                        "per_second": round(len(accepted) / elapsed, 1)}}


COUNT = """
from portal import create_app
from portal.extensions import db
from kb.tickets import Ticket
import json, sys
app = create_app()
with app.app_context():
    rows = db.session.query(Ticket.id, Ticket.title).filter(Ticket.title.like(f"Load test {sys.argv[1]}-%")).all()
print(json.dumps([[i, t] for i, t in rows]))
"""


def check_stored(env: dict, run: str, results) -> dict:
    out = subprocess.run([BIN / "python", "-c", COUNT, run], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    stored: dict[str, list[int]] = {}
    for ticket_id, title in json.loads(out.strip().splitlines()[-1]):
        stored.setdefault(title.split(" ")[2].rstrip(":"), []).append(ticket_id)
    accepted = {r[0]: r[3] for r in results if r[1] == 201}
    lost = [m for m, tid in accepted.items() if stored.get(m) != [tid]]
    stray = [m for m in stored if m not in accepted]  # stored although the client got no 201
    return {"stored": sum(len(v) for v in stored.values()), "lost": len(lost),
            "duplicated": sum(1 for v in stored.values() if len(v) > 1), "stored_without_201": len(stray)}


def suggestions(port: int, tokens: list[str], total: int, stop: threading.Event | None = None) -> dict:
    def one(i: int):
        q = urllib.request.quote(QUERIES[i % len(QUERIES)])
        status, ms, data = call(port, tokens[i % len(tokens)], "GET", f"/api/v1/search?q={q}&limit=5")
        return status, ms, bool(data and data.get("items"))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        results = list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - t0
    ok = [r for r in results if r[0] == 200]
    return {"requests": total, "ok": len(ok), "errors": total - len(ok), "with_results": sum(1 for r in ok if r[2]),
            "statuses": {str(s): sum(1 for r in results if r[0] == s) for s in sorted({r[0] for r in results})},
            "p50_ms": percentile([r[1] for r in ok], 50), "p95_ms": percentile([r[1] for r in ok], 95),
            "per_second": round(len(ok) / elapsed, 1)}


def during_reindex(env: dict, port: int, tokens: list[str], total: int) -> dict:
    reindex = subprocess.Popen([BIN / "flask", "--app", "wsgi", "search", "reindex", "--fresh"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rounds = []
    while reindex.poll() is None or not rounds:
        rounds.append(suggestions(port, tokens, min(total, 200)))
    err = reindex.stderr.read()
    return {"reindex_exit": reindex.returncode, "reindex_error": err.strip()[-300:] if reindex.returncode else "",
            "requests": sum(r["requests"] for r in rounds), "errors": sum(r["errors"] for r in rounds),
            "statuses": {s: sum(r["statuses"].get(s, 0) for r in rounds) for s in {k for r in rounds for k in r["statuses"]}},
            "p95_ms": max(r["p95_ms"] for r in rounds)}


def run_one(database: str, tickets: int, clients: int, port: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"load-{database}-"))
    url = start_pgserver(work / "pg") if database == "postgresql" else None
    env = environment(work / "instance", database, url, port)
    tokens = prepare(env, clients)
    log = work / "gunicorn.log"
    proc = start_gunicorn(env, port, log)
    try:
        run = f"r{random.randrange(10**6)}"
        sub = submissions(port, tokens, tickets, run)
        result = {"database": database, "workers": 4, "clients": clients, **sub["summary"]}
        result.update(check_stored(env, run, sub["results"]))
        result["suggest"] = suggestions(port, tokens, tickets)
        result["suggest_during_reindex"] = during_reindex(env, port, tokens, tickets)
        return result
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        if os.environ.get("LOAD_KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = False
    for database in (["sqlite", "postgresql"] if args.database == "both" else [args.database]):
        result = run_one(database, args.tickets, args.clients, args.port)
        print(json.dumps(result))
        (RESULTS / f"load-{database}.json").write_text(json.dumps(result, indent=2))
        failed |= bool(result["lost"] or result["duplicated"] or result["unclear"]
                       or result["suggest_during_reindex"]["errors"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

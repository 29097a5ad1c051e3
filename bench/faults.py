"""Faults under load: kill -9 and restarts, then check that nothing committed is lost.

    .venv/bin/python -m bench.faults                    # every scenario
    .venv/bin/python -m bench.faults --only web-worker-kill

Scenarios (each on a fresh instance prepared by bench.load: `flask setup`, 20 API tokens,
gunicorn with 4 workers and the real model):

* ``web-worker-kill`` (SQLite): tickets are submitted from 10 clients while two gunicorn
  workers are killed with SIGKILL, 4 s apart. Every 201 must be stored exactly once; the
  requests those workers held get a connection error; gunicorn replaces them.
* ``postgres-restart`` (PostgreSQL + PostgreSQL search): the same load while PostgreSQL is
  stopped with ``-m immediate`` (a crash) and started again. Errors must be clear JSON answers,
  nothing accepted may be lost, and the last seconds of load must all succeed again.
* ``reindex-kill``: `flask search reindex` killed with SIGKILL half-way, run again: it resumes
  from its checkpoint and `flask search verify` reports a clean index.
* ``job-worker-kill`` (PostgreSQL, WORKER=rq on a Redis of its own): 300 new articles queue
  index jobs; the RQ worker is killed with SIGKILL while it indexes them; a new worker (as
  systemd would start) finishes them and the index verifies clean.
* ``redis-restart`` (WORKER=rq): Redis is stopped while tickets and articles are submitted and
  started again: requests keep being answered, no index job is lost, and the worker carries on.

Prints one JSON line per scenario and writes bench/results/faults.json. Exit 1 if any check fails.
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
from pathlib import Path

from bench.load import (BIN, RESULTS, ROOT, call, check_stored, environment, prepare, start_gunicorn,
                        start_pgserver)

CLIENTS = 10
PORT = 8766
REDIS_PORT = 6391


class Load:
    """Ticket submissions from CLIENTS threads until stopped; every answer is kept."""

    def __init__(self, port: int, tokens: list[str]):
        self.port, self.tokens, self.run = port, tokens, f"f{random.randrange(10**6)}"
        self.results: list[tuple] = []
        self.stop = threading.Event()
        self._n = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(t,), daemon=True) for t in tokens[:CLIENTS]]

    def _client(self, token: str) -> None:
        while not self.stop.is_set():
            with self._lock:
                i = self._n
                self._n += 1
            marker = f"{self.run}-{i}"
            t0 = time.monotonic()
            status, _ms, data = call(self.port, token, "POST", "/api/v1/tickets", {
                "title": f"Load test {marker}: printer offline", "description": f"Marker {marker}. The printer "
                "on the third floor shows offline for everyone since the power cut."})
            ticket_id = (data or {}).get("ticket", {}).get("id") if status == 201 else None
            clear = status == 201 or (status >= 400 and isinstance(data, dict) and "error" in data)
            self.results.append((marker, status, t0, ticket_id, clear))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(90)

    def summary(self, env: dict, recovered_after: float | None = None) -> dict:
        statuses: dict[str, int] = {}
        for r in self.results:
            statuses[str(r[1])] = statuses.get(str(r[1]), 0) + 1
        out = {"submitted": len(self.results), "statuses": statuses,
               "unclear": sum(1 for r in self.results if not r[4] and r[1] != 0),
               "connection_errors": statuses.get("0", 0)}
        out.update(check_stored(env, self.run, self.results))
        if recovered_after is not None:
            tail = [r for r in self.results if r[2] >= recovered_after]
            out["after_recovery"] = {"submitted": len(tail), "accepted": sum(1 for r in tail if r[1] == 201)}
        return out


def flask(env: dict, *args: str, check: bool = False, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "flask", "--app", "wsgi", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=check, timeout=timeout)


def verify_clean(env: dict) -> tuple[bool, str]:
    proc = flask(env, "search", "verify")
    return proc.returncode == 0, proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else proc.stderr[-300:]


def workers_of(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_for(predicate, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


class Instance:
    """A prepared instance with gunicorn running; stopped and removed on exit."""

    def __init__(self, database: str, extra: dict | None = None):
        self.work = Path(tempfile.mkdtemp(prefix=f"faults-{database}-"))
        self.pg_folder = self.work / "pg"
        url = start_pgserver(self.pg_folder) if database == "postgresql" else None
        self.env = environment(self.work / "instance", database, url, PORT)
        self.env.update(extra or {})
        self.tokens = prepare(self.env, 20)
        self.gunicorn = start_gunicorn(self.env, PORT, self.work / "gunicorn.log")

    def close(self) -> None:
        try:
            os.killpg(self.gunicorn.pid, signal.SIGTERM)
            self.gunicorn.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.gunicorn.pid, signal.SIGKILL)
        if not os.environ.get("FAULTS_KEEP"):
            shutil.rmtree(self.work, ignore_errors=True)


def web_worker_kill() -> dict:
    inst = Instance("sqlite")
    try:
        with Load(PORT, inst.tokens) as load:
            time.sleep(4)
            killed = []
            for _ in range(2):
                victim = workers_of(inst.gunicorn.pid)[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                time.sleep(4)
            recovered = time.monotonic()
            respawned = wait_for(lambda: len(workers_of(inst.gunicorn.pid)) == 4 and
                                 not set(killed) & set(workers_of(inst.gunicorn.pid)), 60)
            time.sleep(6)
        result = {"scenario": "web-worker-kill", "killed": len(killed), "respawned": respawned,
                  **load.summary(inst.env, recovered_after=recovered + 2)}
        result["ready"] = ready(PORT)
        result["verify_clean"], result["verify"] = verify_clean(inst.env)
        result["ok"] = (result["lost"] == 0 and result["duplicated"] == 0 and result["unclear"] == 0
                        and respawned and result["ready"] and result["verify_clean"]
                        and result["after_recovery"]["accepted"] == result["after_recovery"]["submitted"] > 0)
        return result
    finally:
        inst.close()


def pg_ctl(folder: Path, *args: str) -> None:
    import pgserver

    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    cmd = [str(binary), "-D", str(folder), "-w", *args]
    if os.geteuid() == 0:  # pgserver runs the server as the "pgserver" user when started by root
        cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(cmd)]
    # The server inherits pg_ctl's output: never a pipe (it would stay open), a log file instead.
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def postgres_restart() -> dict:
    inst = Instance("postgresql")
    try:
        with Load(PORT, inst.tokens) as load:
            time.sleep(4)
            t0 = time.monotonic()
            pg_ctl(inst.pg_folder, "-m", "immediate", "stop")
            time.sleep(3)
            pg_ctl(inst.pg_folder, "-l", str(inst.pg_folder / "restart.log"), "restart")  # postmaster.opts: same options
            down_s = round(time.monotonic() - t0, 1)
            recovered = time.monotonic()
            time.sleep(8)
        result = {"scenario": "postgres-restart", "down_seconds": down_s,
                  **load.summary(inst.env, recovered_after=recovered + 2)}
        result["ready"] = ready(PORT)
        result["verify_clean"], result["verify"] = verify_clean(inst.env)
        result["ok"] = (result["lost"] == 0 and result["duplicated"] == 0 and result["unclear"] == 0
                        and result["ready"] and result["verify_clean"]
                        and result["after_recovery"]["accepted"] == result["after_recovery"]["submitted"] > 0)
        return result
    finally:
        inst.close()


ADD_ARTICLES = """
import sys
from kb.articles import ArticleFields, insert_article
from kb.jobs import enqueue
from kb.taxonomy import get_category
from kb.users import get_user_by_email
from portal import create_app
from portal.extensions import db
app = create_app()
with app.app_context():
    author = get_user_by_email(db.session, "agent@contoso.example")
    cat = get_category(db.session, "hardware")
    for i in range(int(sys.argv[1])):
        a = insert_article(db.session, author, ArticleFields(title=f"Fault test article {i}: docking station",
            body=("The docking station loses the external monitors after sleep. " * 20) + f"Case {i}.",
            category=cat, subcategory=None, tags=(), audience="public", lang="en"), status="published")
        enqueue(db.session, "index_article", a.id)
    db.session.commit()
"""

PENDING = """
from kb.jobs import pending_count
from portal import create_app
from portal.extensions import db
app = create_app()
with app.app_context():
    print(pending_count(db.session))
"""


def pending(env: dict) -> int:
    out = subprocess.run([BIN / "python", "-c", PENDING], env=env, cwd=ROOT, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else -1


def reindex_kill() -> dict:
    inst = Instance("sqlite")
    try:
        subprocess.run([BIN / "python", "-c", ADD_ARTICLES, "150"], env=inst.env, cwd=ROOT, check=True,
                       capture_output=True)
        proc = subprocess.Popen([BIN / "flask", "--app", "wsgi", "search", "reindex", "--fresh"], env=inst.env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(12)
        killed = proc.poll() is None
        proc.kill()
        proc.wait()
        again = flask(inst.env, "search", "reindex")
        result = {"scenario": "reindex-kill", "killed_mid_run": killed, "second_run_exit": again.returncode,
                  "second_run": again.stdout.strip().splitlines()[-1] if again.stdout.strip() else again.stderr[-300:]}
        result["verify_clean"], result["verify"] = verify_clean(inst.env)
        result["ok"] = killed and again.returncode == 0 and result["verify_clean"]
        return result
    finally:
        inst.close()


def start_redis(folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    wait_for(lambda: _ping(redis), 10, 0.2)
    return proc


def _ping(redis) -> bool:
    try:
        return redis.Redis(port=REDIS_PORT).ping()
    except redis.exceptions.ConnectionError:
        return False


def rq_worker(env: dict, log: Path) -> subprocess.Popen:
    # A session of its own, like a service unit: RQ's scheduler runs in a child process,
    # which outlives a SIGKILL of the worker; stop_group() ends both, as systemd would.
    return subprocess.Popen([BIN / "flask", "--app", "wsgi", "worker", "rq"], env=env, cwd=ROOT,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def job_worker_kill() -> dict:
    work = Path(tempfile.mkdtemp(prefix="faults-redis-"))
    redis_proc = start_redis(work)
    rq_env = {"HELPDESK_WORKER": "rq", "HELPDESK_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0"}
    inst = Instance("postgresql", rq_env)
    try:
        worker = rq_worker(inst.env, inst.work / "rq.log")
        wait_for(lambda: pending(inst.env) == 0, 300, 2)
        subprocess.run([BIN / "python", "-c", ADD_ARTICLES, "300"], env=inst.env, cwd=ROOT, check=True,
                       capture_output=True)
        before = pending(inst.env)
        started = wait_for(lambda: 0 <= pending(inst.env) < before, 300, 0.5)  # it is indexing now
        worker.kill()  # SIGKILL to the process running the drain
        worker.wait()
        stop_group(worker, signal.SIGKILL)  # and its scheduler child, as the service manager would
        at_kill = pending(inst.env)
        t0 = time.monotonic()
        worker = rq_worker(inst.env, inst.work / "rq.log")
        finished = wait_for(lambda: pending(inst.env) == 0, 600, 2)
        result = {"scenario": "job-worker-kill", "jobs": before, "killed_while_indexing": started,
                  "pending_at_kill": at_kill, "finished_after_restart": finished,
                  "seconds_to_finish": round(time.monotonic() - t0, 1)}
        stop_group(worker)
        result["verify_clean"], result["verify"] = verify_clean(inst.env)
        result["ok"] = started and 0 < at_kill and finished and result["verify_clean"]
        return result
    finally:
        inst.close()
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def redis_restart() -> dict:
    work = Path(tempfile.mkdtemp(prefix="faults-redis-"))
    redis_proc = start_redis(work)
    rq_env = {"HELPDESK_WORKER": "rq", "HELPDESK_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0"}
    inst = Instance("postgresql", rq_env)
    worker = rq_worker(inst.env, inst.work / "rq.log")
    try:
        wait_for(lambda: pending(inst.env) == 0, 300, 2)
        with Load(PORT, inst.tokens) as load:
            time.sleep(3)
            redis_proc.terminate()
            redis_proc.wait(10)
            subprocess.run([BIN / "python", "-c", ADD_ARTICLES, "20"], env=inst.env, cwd=ROOT, check=True,
                           capture_output=True)  # index jobs committed while Redis is down
            time.sleep(3)
            redis_proc = start_redis(work)
            recovered = time.monotonic()
            time.sleep(6)
        result = {"scenario": "redis-restart", **load.summary(inst.env, recovered_after=recovered + 2)}
        worker_alive = worker.poll() is None
        if not worker_alive:  # as systemd's Restart=always would
            worker = rq_worker(inst.env, inst.work / "rq.log")
        result["worker_survived"] = worker_alive
        result["jobs_finished"] = wait_for(lambda: pending(inst.env) == 0, 300, 2)
        result["ready"] = ready(PORT)
        result["verify_clean"], result["verify"] = verify_clean(inst.env)
        result["ok"] = (result["lost"] == 0 and result["duplicated"] == 0 and result["unclear"] == 0
                        and result["jobs_finished"] and result["ready"] and result["verify_clean"])
        return result
    finally:
        stop_group(worker)
        inst.close()
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


SCENARIOS = {"web-worker-kill": web_worker_kill, "postgres-restart": postgres_restart,
             "reindex-kill": reindex_kill, "job-worker-kill": job_worker_kill, "redis-restart": redis_restart}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.only or list(SCENARIOS):
        try:
            result = SCENARIOS[name]()
        except Exception as exc:  # noqa: BLE001 - a broken scenario is a failed check, reported
            result = {"scenario": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        print(json.dumps(result), flush=True)
        results.append(result)
    (RESULTS / "faults.json").write_text(json.dumps(results, indent=2))
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Jobs and schedules on a real Redis through RQ (WORKER=rq).

Every test gets its own queue name (our keys live under it too) and removes its keys
afterwards; RQ runs in-process (SimpleWorker, burst) or as real ``flask worker rq``
processes. Redis must run at HELPDESK_TEST_REDIS_URL (default 127.0.0.1:6379/0).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from rq.job import Job

from kb import jobs
from portal.extensions import db as _db
from portal.jobs.beat import Beat
from portal.jobs.connection import queue_for
from portal.jobs.tasks import run_periodic
from tests.conftest import make_app
from tests.portal.rq_app import REDIS_URL, app, queue_name, redis_conn, titles, work  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"redis://127.0.0.1:{port}/0"


# ---------------------------------------------------------------- trigger and drain

def test_a_committed_change_triggers_one_drain_that_indexes_it(app, session, make_article):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    make_article(title="VPN drops every hour", body="Renew the VPN certificate.")
    make_article(title="Printer offline", body="Restart the print spooler.")
    q = queue_for(app)
    assert q.count == 1, "three commits, one deduplicated trigger"
    [job] = q.get_jobs()
    assert job.func_name == "portal.jobs.tasks.drain_index" and job.args == ()
    assert len(jobs.pending(session)) == 3

    work(app)
    session.expire_all()
    assert jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]
    assert q.finished_job_registry.count == 1

    make_article(title="Outlook asks for the password", body="Clear the credential manager.")  # after a drain
    assert q.count == 1
    work(app)
    assert titles(session, "credential manager")[:1] == ["Outlook asks for the password"]


def test_a_drain_is_safe_to_run_twice(app, session, make_article):
    from portal.jobs.trigger import enqueue_drain

    make_article(title="Docking station not detected", body="Update the dock firmware.")
    enqueue_drain(app)
    assert queue_for(app).count == 2
    work(app)
    assert queue_for(app).finished_job_registry.count == 2
    assert queue_for(app).failed_job_registry.count == 0
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]


def test_drains_take_turns_across_workers(app, session, make_article, redis_conn):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    other = redis_conn.lock(f"{app.config['QUEUE_NAME']}:drain-lock", timeout=10, thread_local=False)
    assert other.acquire(blocking=False)  # a drain running in another worker
    threading.Timer(0.5, other.release).start()
    started = time.monotonic()
    work(app)
    assert time.monotonic() - started >= 0.45  # it waited for the other drain, then drained
    assert queue_for(app).finished_job_registry.count == 1
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]


def test_commits_without_index_jobs_trigger_nothing(app, make_user):
    make_user("agent")
    assert queue_for(app).count == 0


def test_redis_down_at_commit_loses_no_index_job(app, session, make_article, client, caplog):
    app.config["REDIS_URL"] = _closed_port_url()
    started = time.monotonic()
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    make_article(title="VPN drops every hour", body="Renew the VPN certificate.")  # in the back-off: no wait
    assert time.monotonic() - started < 5
    assert "Redis unreachable" in caplog.text
    assert len(jobs.pending(session)) == 2  # the rows are committed

    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["queue"].startswith("error: Redis unreachable at redis://127.0.0.1:")

    app.config["REDIS_URL"] = REDIS_URL  # Redis is back; nothing was enqueued meanwhile
    assert queue_for(app).count == 0
    session.commit()  # end the test's read transaction (SQLite: each one holds the write lock)
    assert Beat(app).tick()[:1] == ["drain"]  # the periodic re-trigger sees the waiting rows
    work(app)
    session.expire_all()
    assert jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]
    assert titles(session, "certificate")[:1] == ["VPN drops every hour"]


# ---------------------------------------------------------------- periodic tasks, once per cluster

def test_periodic_tasks_run_once_across_two_beats(app, session):
    app.config["SCHEDULER_SECONDS"] = 1
    app.config["REVIEW_PERIODS"] = "week"
    beats = [Beat(app, name="beat-a"), Beat(app, name="beat-b")]

    def race() -> Counter:
        fired: list[str] = []
        barrier = threading.Barrier(2)

        def loop(beat):
            barrier.wait()
            for _ in range(15):
                fired.extend(beat.tick())
                time.sleep(0.01)
        threads = [threading.Thread(target=loop, args=(b,)) for b in beats]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return Counter(fired)

    assert race() == {"sweep": 1, "sla": 1, "reviews": 1}
    time.sleep(1.1)  # one SLA period later; the sweep's minute is not over
    assert race() == {"sla": 1, "reviews": 1}
    q = queue_for(app)
    assert sorted(j.args[0] for j in q.get_jobs()) == ["reviews", "reviews", "sla", "sla", "sweep"]
    work(app)
    assert q.finished_job_registry.count == 5 and q.failed_job_registry.count == 0


def test_passes_of_one_periodic_task_never_overlap(app, redis_conn):
    from datetime import timedelta

    from kb.db import utcnow
    from kb.intake_models import IntakeSession

    _db.session.add(IntakeSession(token="t" * 43, started_at=utcnow() - timedelta(hours=2),
                                  last_activity_at=utcnow() - timedelta(hours=2)))
    _db.session.commit()
    q = queue_for(app)
    running = redis_conn.lock(f"{app.config['QUEUE_NAME']}:running:sweep", timeout=10)
    assert running.acquire(blocking=False)  # a sweep still running in another worker
    job = q.enqueue(run_periodic, "sweep")
    work(app)
    assert job.return_value(refresh=True) == "skipped: a pass is still running"
    running.release()
    job = q.enqueue(run_periodic, "sweep")
    work(app)
    assert job.return_value(refresh=True) == 1  # the idle intake session marked abandoned


def test_two_worker_processes_run_each_due_task_once(app, session, make_article, tmp_path):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    env = {**os.environ, "HELPDESK_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "HELPDESK_INSTANCE_PATH": app.config["INSTANCE_PATH"], "HELPDESK_INDEX_PATH": app.config["INDEX_PATH"],
           "HELPDESK_EMBEDDING_MODEL": "hash", "HELPDESK_SECRET_KEY": "test-secret", "HELPDESK_WORKER": "rq",
           "HELPDESK_REDIS_URL": REDIS_URL, "HELPDESK_QUEUE_NAME": app.config["QUEUE_NAME"],
           "HELPDESK_SEARCH_BACKEND": app.config["SEARCH_BACKEND"],
           "HELPDESK_SEARCH_DATABASE_URL": app.config.get("SEARCH_DATABASE_URL") or "",
           "HELPDESK_REVIEW_PERIODS": "week", "HELPDESK_SMTP_HOST": "", "HELPDESK_IMAP_HOST": ""}
    cmd = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "rq", "--burst"]
    procs = [subprocess.Popen([*cmd, "--name", f"{app.config['QUEUE_NAME']}-{i}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    q = queue_for(app)
    assert q.failed_job_registry.count == 0, outputs
    finished = [Job.fetch(i, connection=q.connection) for i in q.finished_job_registry.get_job_ids()]
    periodic = Counter(j.args[0] for j in finished if j.func_name.endswith("run_periodic"))
    assert periodic == {"sweep": 1, "sla": 1, "reviews": 1}, outputs
    assert sum(o.count("enqueued:") for o in outputs) >= 1
    session.expire_all()
    assert jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]


# ---------------------------------------------------------------- the command and readiness

def test_worker_command_runs_a_burst(app, session, make_article):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    result = app.test_cli_runner().invoke(args=["worker", "rq", "--burst", "--no-beat",
                                                "--name", f"{app.config['QUEUE_NAME']}-cli"])
    assert result.exit_code == 0, result.output
    assert f"on queue {app.config['QUEUE_NAME']!r} (burst)" in result.output
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]


def test_worker_command_refuses_without_rq_or_redis(app, tmp_path):
    thread_app = make_app(tmp_path / "other", WORKER="thread")
    with thread_app.app_context():  # the command runs in the innermost app context
        result = thread_app.test_cli_runner().invoke(args=["worker", "rq", "--burst"])
    assert result.exit_code != 0
    assert "HELPDESK_WORKER is 'thread', not 'rq'" in result.output

    app.config["REDIS_URL"] = _closed_port_url()
    result = app.test_cli_runner().invoke(args=["worker", "rq", "--burst"])
    assert result.exit_code != 0
    assert "Redis is unreachable at redis://127.0.0.1:" in result.output


def test_readyz_reports_the_queue(app, client, make_article):
    make_article()
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready", body
    assert body["checks"]["queue"] == f"ok ({app.config['QUEUE_NAME']}: 1 waiting, 0 failed)"


def test_a_drain_killed_mid_way_holds_the_lock_for_seconds_only(app):
    """The drain lock is renewed while a drain runs and expires DRAIN_LOCK_TTL after its
    holder stops renewing (a worker killed with SIGKILL): not after the whole job timeout."""
    from portal.jobs import tasks
    from portal.jobs.connection import key, redis_for

    r = redis_for(app)
    lock = r.lock(key(app, "drain-lock"), timeout=tasks.DRAIN_LOCK_TTL, thread_local=False)
    assert lock.acquire(blocking=False)
    try:
        ttl = r.pttl(key(app, "drain-lock"))
        assert 0 < ttl <= tasks.DRAIN_LOCK_TTL * 1000
        stop = tasks._keep_renewed(lock)
        stop.set()  # the holder dies: nobody renews, the key expires on its own
        assert r.pttl(key(app, "drain-lock")) <= tasks.DRAIN_LOCK_TTL * 1000
    finally:
        lock.release()

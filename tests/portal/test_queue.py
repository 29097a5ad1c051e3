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
import uuid
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job

from kb import jobs
from kb.search_service import search_articles
from portal.extensions import db as _db
from portal.jobs.beat import Beat
from portal.jobs.connection import queue_for, worker_connection
from portal.jobs.tasks import run_periodic
from portal.search_ext import holder
from tests.conftest import csrf_token_from, make_app, running_app

REDIS_URL = os.environ.get("HELPDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]


def _purge(r: Redis, name: str) -> None:
    """Delete this test's queue, registries, jobs, results and our own keys."""
    q = Queue(name, connection=r)
    ids = set(q.get_job_ids())
    for reg in (q.failed_job_registry, q.finished_job_registry, q.started_job_registry,
                q.scheduled_job_registry, q.deferred_job_registry, q.canceled_job_registry):
        ids.update(reg.get_job_ids(cleanup=False))
    for job_id in ids:
        for k in r.scan_iter(match=f"rq:*{job_id}*"):
            r.delete(k)
    for k in r.scan_iter(match=f"*{name}*"):
        r.delete(k)
    r.srem("rq:queues", f"rq:queue:{name}")
    for member in r.smembers("rq:workers"):
        if name.encode() in member:
            r.srem("rq:workers", member)


@pytest.fixture
def redis_conn():
    r = Redis.from_url(REDIS_URL)
    try:
        r.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"these tests need a real Redis at {REDIS_URL}: {exc}")
    yield r
    r.close()


@pytest.fixture
def queue_name(redis_conn):
    name = f"test-helpdesk-{uuid.uuid4().hex[:12]}"
    yield name
    _purge(redis_conn, name)


def _rq_app(tmp_path, queue_name, **overrides):
    config = dict(WORKER="rq", REDIS_URL=REDIS_URL, QUEUE_NAME=queue_name, JOB_RETRY_INTERVALS=[0],
                  REVIEW_PERIODS="")
    config.update(overrides)
    return make_app(tmp_path, **config)


@pytest.fixture
def app(tmp_path, queue_name):
    """conftest's app, with WORKER=rq on this test's queue (the other fixtures use it)."""
    yield from running_app(_rq_app(tmp_path, queue_name))


def work(app) -> bool:
    """Run an RQ worker in this process until the queue is empty. The test's own session
    ends its transaction first (on SQLite every transaction takes the write lock)."""
    _db.session.commit()
    conn = worker_connection(app)
    worker = SimpleWorker([queue_for(app, conn)], connection=conn,
                          name=f"{app.config['QUEUE_NAME']}-{uuid.uuid4().hex[:6]}")
    try:
        return worker.work(burst=True)
    finally:
        conn.close()


def titles(session, text):
    return [s.article.title for s in search_articles(session, None, holder().engine, text)]


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


# ---------------------------------------------------------------- retries and the dead letters

def _restart_with_model(app, model: str) -> None:
    """What restarting the worker with another EMBEDDING_MODEL does: a new search holder."""
    from portal.search_ext import SearchHolder

    app.extensions["helpdesk_search"].close()
    app.config["EMBEDDING_MODEL"] = model
    app.extensions["helpdesk_search"] = SearchHolder(app)


def test_a_failing_job_is_retried_then_dead_lettered_and_retried_by_an_admin(app, session, make_article,
                                                                             make_user, login, client):
    holder().engine  # the index, built with the "hash" model
    _restart_with_model(app, "hash-64")  # a real failure: the index was built by another model
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    work(app)
    q = queue_for(app)
    assert q.count == 0
    [job_id] = q.failed_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=q.connection)
    assert job.retries_left == 0 and job.meta["max_retries"] == app.config["JOB_RETRIES"] == 3
    assert len(jobs.pending(session)) == 1  # still waiting in the database

    login(make_user("admin"))
    app.config["WTF_CSRF_ENABLED"] = True  # the buttons post with the CSRF token
    page = client.get("/admin/jobs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "portal.jobs.tasks.drain_index" in html
    assert "IndexMismatchError" in html and "reindex" in html  # the last line of the error
    assert f"<td>{app.config['JOB_RETRIES']}</td>" in html
    assert f"/admin/jobs/{job_id}/retry" in html and f"/admin/jobs/{job_id}/delete" in html

    assert client.post(f"/admin/jobs/{job_id}/retry").status_code == 400  # no CSRF token
    _restart_with_model(app, "hash")  # the cause is gone
    resp = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf_token_from(html)})
    assert resp.status_code == 302
    assert q.failed_job_registry.count == 0 and q.count == 1
    work(app)
    assert q.failed_job_registry.count == 0
    session.expire_all()
    assert jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]
    assert "No failed jobs on the queue." in client.get("/admin/jobs").get_data(as_text=True)


def test_admin_deletes_a_dead_letter_and_pages_through_them(app, make_user, login, client):
    q = queue_for(app)
    for _ in range(27):
        q.enqueue(run_periodic, "no-such-task")  # fails at once, no retries
    work(app)
    assert q.failed_job_registry.count == 27
    login(make_user("admin"))
    first = client.get("/admin/jobs").get_data(as_text=True)
    assert "Page 1 of 2" in first and "no-such-task" in first and "ValueError: unknown periodic task" in first
    second = client.get("/admin/jobs?show=queue&page=2").get_data(as_text=True)
    assert second.count("/delete\"") == 2
    job_id = q.failed_job_registry.get_job_ids()[0]
    assert client.post(f"/admin/jobs/{job_id}/delete").status_code == 302
    assert q.failed_job_registry.count == 26
    assert Job.exists(job_id, connection=q.connection) is False
    assert client.post("/admin/jobs/no-such-job/retry", follow_redirects=True).status_code == 200


def test_failed_index_jobs_are_listed_and_can_be_retried(app, session, make_article, make_user, login, client):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    [row] = jobs.pending(session)
    row.attempts, row.last_error = jobs.MAX_ATTEMPTS, "OSError: disk full"
    session.commit()
    work(app)  # the triggered drain finds nothing it may still try
    login(make_user("admin"))
    html = client.get("/admin/jobs?show=index").get_data(as_text=True)
    assert "OSError: disk full" in html and "Given up" in html
    assert client.post(f"/admin/jobs/index/{row.id}/retry").status_code == 302
    assert queue_for(app).count == 1  # the retry triggers a drain
    work(app)
    session.expire_all()
    assert jobs.failed(session) == [] and jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]
    assert "No index job has failed." in client.get("/admin/jobs?show=index").get_data(as_text=True)


def test_only_admins_see_the_jobs(app, client, make_user, login):
    assert client.get("/admin/jobs").status_code == 404  # anonymous: not advertised
    login(make_user("lead"))
    assert client.get("/admin/jobs").status_code == 403
    assert client.post("/admin/jobs/abc/retry").status_code == 403
    assert client.post("/admin/jobs/abc/delete").status_code == 403
    assert client.post("/admin/jobs/index/1/retry").status_code == 403


def test_the_jobs_page_is_linked_for_admins(app, client, make_user, login):
    login(make_user("admin"))
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert 'href="/admin/jobs"' in html
    assert "No failed jobs on the queue." in html


def test_the_jobs_page_in_chinese_and_without_the_queue(app, client, make_user, login):
    login(make_user("admin", locale="zh"))
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "后台任务" in html and "队列中没有失败的任务。" in html
    app.config["WORKER"] = "thread"  # the embedded default: only the database's index jobs
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "没有失败的索引任务。" in html and "失败的队列任务" not in html
    assert client.post("/admin/jobs/abc/retry").status_code == 404


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

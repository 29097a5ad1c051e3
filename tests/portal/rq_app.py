"""The RQ test set-up shared by the queue tests and the jobs-page tests: a real Redis at
HELPDESK_TEST_REDIS_URL (default 127.0.0.1:6379/0), a queue name of its own per test (its
keys removed afterwards), conftest's app with WORKER=rq on it, and an in-process worker.
Test modules import the fixtures they use from here."""
from __future__ import annotations

import os
import uuid

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from kb.search_service import search_articles
from portal.extensions import db as _db
from portal.jobs.connection import queue_for, worker_connection
from portal.search_ext import holder
from tests.conftest import make_app, running_app

REDIS_URL = os.environ.get("HELPDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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

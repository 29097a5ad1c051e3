"""After a commit that wrote index jobs, trigger one drain on the RQ queue.

The trigger is a hint, not the job: the rows are already committed in the job table.
A short Redis key (``SET NX EX``) deduplicates triggers, so a thousand commits in a burst
make one RQ job, and the drain clears the key *before* it reads the table, so a commit
made during a drain triggers the next one. If Redis is down the commit still stands: the
trigger logs a warning, backs off for a few seconds (no request waits on a dead Redis
each time), and the beat's re-trigger drains the rows once Redis is back.
"""
from __future__ import annotations

import logging
import time
import weakref

from flask import Flask, current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.jobs.connection import job_options, key, queue_for, redis_for

log = logging.getLogger(__name__)
TRIGGER_TTL = 60      # seconds a pending trigger suppresses others (then the beat or a commit re-triggers)
BACKOFF_SECONDS = 5.0  # after Redis failed, commits skip the trigger this long
DRAIN_TIMEOUT = 600   # RQ job timeout of one drain
_FLAG = "helpdesk_index_jobs"


def _trigger_key(app: Flask) -> str:
    return key(app, "drain-trigger")


def enqueue_drain(app: Flask):
    """Put one drain job on the queue (no deduplication; raises RedisError)."""
    from portal.jobs.tasks import drain_index

    return queue_for(app).enqueue(drain_index, job_timeout=DRAIN_TIMEOUT, **job_options(app),
                                  description="drain the index job table")


def trigger_drain(app: Flask) -> bool:
    """Enqueue a drain unless one is already waiting; True if this call enqueued it.
    Raises RedisError (callers on the request path use :func:`trigger_after_commit`)."""
    r = redis_for(app)
    k = _trigger_key(app)
    if not r.set(k, "1", nx=True, ex=TRIGGER_TTL):
        return False
    try:
        enqueue_drain(app)
    except Exception:
        r.delete(k)
        raise
    return True


def clear_drain_trigger(app: Flask) -> None:
    try:
        redis_for(app).delete(_trigger_key(app))
    except RedisError as exc:  # the key expires on its own
        log.warning("could not clear the drain trigger: %s", exc)


def trigger_after_commit(app: Flask) -> None:
    """The request-path trigger: never raises, backs off while Redis is unreachable."""
    state = app.extensions.setdefault("helpdesk_queue_state", {"down_until": 0.0})
    if time.monotonic() < state["down_until"]:
        return
    try:
        trigger_drain(app)
    except RedisError as exc:
        state["down_until"] = time.monotonic() + BACKOFF_SECONDS
        log.warning("Redis unreachable (%s): the index jobs wait in the database and are drained "
                    "once the queue is back", exc)


def init_app(app: Flask) -> None:
    """Hooks on every SQLAlchemy session: note flushes that add index jobs, and after the
    commit trigger a drain for this app (the listeners are global, hence the app check)."""
    from kb.jobs import Job

    ref = weakref.ref(app)

    def ours() -> Flask | None:
        a = ref()
        if a is None or not has_app_context() or current_app._get_current_object() is not a:
            return None
        return a

    @event.listens_for(Session, "after_flush")
    def _note_index_jobs(session, _flush_context):
        if ours() is not None and any(isinstance(obj, Job) for obj in session.new):
            session.info[_FLAG] = True

    @event.listens_for(Session, "after_commit")
    def _trigger(session):
        a = ours()
        if a is not None and session.info.pop(_FLAG, False):
            trigger_after_commit(a)

    @event.listens_for(Session, "after_rollback")
    def _forget(session):
        if ours() is not None:
            session.info.pop(_FLAG, None)

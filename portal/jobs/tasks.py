"""The functions RQ runs. They take names, never objects, and are safe to run twice:
the drain applies whatever the job table holds (``kb.indexing.process_jobs`` is
idempotent), and every periodic task is a pass that a second run finds nothing more to do.

Unlike the thread worker, they let a failure raise (after rolling back), so RQ retries
them and, after the last retry, keeps them in its failed registry for ``/admin/jobs``.
"""
from __future__ import annotations

import logging
import threading

from flask import Flask, current_app, has_app_context
from redis.exceptions import LockError

log = logging.getLogger(__name__)
_fallback_app: Flask | None = None


def _app() -> Flask:
    """The app of the worker process: the one whose context is pushed (``flask worker rq``,
    tests), else one built from the environment (a plain ``rq worker`` process)."""
    global _fallback_app
    if has_app_context():
        return current_app._get_current_object()
    if _fallback_app is None:
        from portal import create_app

        _fallback_app = create_app()
    return _fallback_app


DRAIN_LOCK_TTL = 30


def _keep_renewed(lock) -> threading.Event:
    """Extend ``lock`` every third of its life until the returned event is set."""
    stop = threading.Event()

    def renew():
        while not stop.wait(DRAIN_LOCK_TTL / 3):
            try:
                lock.extend(DRAIN_LOCK_TTL, replace_ttl=True)
            except Exception as exc:  # noqa: BLE001 - Redis gone or lock lost: the drain goes on
                log.warning("could not renew the drain lock: %s", exc)

    threading.Thread(target=renew, name="drain-lock", daemon=True).start()
    return stop


def drain_index() -> int:
    """Apply every pending index job from the database table; returns how many."""
    from kb.indexing import process_jobs
    from portal.extensions import db
    from portal.jobs.connection import key, redis_for
    from portal.jobs.trigger import DRAIN_TIMEOUT, clear_drain_trigger
    from portal.search_ext import holder

    app = _app()
    # One drain at a time across the cluster (the index has one writer at a time); a second
    # drain waits for the first, then finds what was committed meanwhile.
    # The lock lives DRAIN_LOCK_TTL seconds and is renewed while the drain runs, so a worker
    # killed mid-drain holds it up for seconds, not for the whole job timeout (bench/faults.py).
    lock = redis_for(app).lock(key(app, "drain-lock"), timeout=DRAIN_LOCK_TTL, blocking_timeout=DRAIN_TIMEOUT,
                               thread_local=False)
    if not lock.acquire():
        raise RuntimeError("another drain held the lock for the whole job timeout")
    renewing = _keep_renewed(lock)
    try:
        with app.app_context():
            # Cleared before reading the table: a commit made from now on triggers another drain.
            clear_drain_trigger(app)
            done = 0
            try:
                engine = holder().engine
                while n := process_jobs(db.session, engine):
                    db.session.commit()
                    done += n
                db.session.rollback()
            except Exception:
                db.session.commit()  # keep attempts/last_error written by process_jobs
                raise
            finally:
                db.session.remove()
    finally:
        renewing.set()
        try:
            lock.release()
        except LockError:  # it expired (a drain longer than the timeout); nothing to give back
            log.warning("the drain lock had expired before the drain ended")
    return done


def _sweep(app: Flask):
    from kb.intake import sweep_abandoned
    from portal.extensions import db

    n = sweep_abandoned(db.session)
    if n:
        db.session.commit()
    return n


def _sla(app: Flask):
    from kb.scheduler import run_scheduler
    from portal.extensions import db

    counts = run_scheduler(db.session, commit=db.session.commit)
    db.session.commit()
    return counts


def _reviews(app: Flask):
    from portal.insight_review import publish_due_reviews, review_periods
    from portal.search_ext import holder

    if not review_periods(app):
        return 0
    return publish_due_reviews(app, embedder=holder().embedder())


def _outbox(app: Flask):
    from portal.outbox import send_outbox

    return send_outbox(app)


def _imap(app: Flask):
    from portal.mail_admin import fetch_mailbox

    # An unreachable mailbox is logged and returned (as the thread worker does), not raised:
    # the next period tries again, and the failed registry is kept for real faults.
    return fetch_mailbox(app)


PERIODIC_TASKS = {"sweep": _sweep, "sla": _sla, "reviews": _reviews, "outbox": _outbox, "imap": _imap}


def run_periodic(name: str):
    """One pass of the named periodic task (see ``portal.jobs.beat``). A pass of the same
    task still running anywhere (a long one, or a retry meeting the next period) makes this
    one a no-op: the passes never overlap, as in the thread worker."""
    from portal.extensions import db
    from portal.jobs.beat import TASK_TIMEOUT
    from portal.jobs.connection import key, redis_for

    try:
        task = PERIODIC_TASKS[name]
    except KeyError:
        raise ValueError(f"unknown periodic task {name!r}") from None
    app = _app()
    lock = redis_for(app).lock(key(app, "running", name), timeout=TASK_TIMEOUT)
    if not lock.acquire(blocking=False):
        log.info("periodic task %s: a pass is still running elsewhere; skipped", name)
        return "skipped: a pass is still running"
    try:
        with app.app_context():
            try:
                return task(app)
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("periodic task %s ran longer than its lock (%s s)", name, TASK_TIMEOUT)

"""The periodic tasks, each run once per period across the whole cluster.

Every ``flask worker rq`` process runs a beat that ticks about once a second. For each
task whose period is on, the tick tries ``SET <queue>:beat:<task> <beat> NX PX <period>``:
the one process that sets the key enqueues the task; for the rest of the period the key
exists and every other tick (in any process) skips it. A task whose enqueue fails gives
its key back, so another tick tries again. (RQ's own CronScheduler keeps its timing in
the process, so two of them would both enqueue: it does not serve "once per cluster".)

The "drain" entry is the safety net of the after-commit trigger: while index jobs wait
in the database (say, committed while Redis was down), it triggers a drain.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Callable

from flask import Flask

from portal.jobs.connection import job_options, key, queue_for, redis_for

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
DRAIN_SECONDS = 30    # how often waiting index jobs are re-triggered
SWEEP_SECONDS = 60    # idle intake sessions marked abandoned (as the thread worker)
OUTBOX_SECONDS = 10   # due mail sent
TASK_TIMEOUT = 900    # RQ job timeout of a periodic pass (a long first SLA pass commits per batch)
RESULT_TTL = 600      # seconds a finished pass stays in the finished registry


def _reviews_period(app: Flask) -> float:
    from portal.insight_review import review_periods

    return app.config.get("SCHEDULER_SECONDS", 60) if review_periods(app) else 0


# task name -> its period in seconds for this app's config (0: off)
PERIODS: dict[str, Callable[[Flask], float]] = {
    "drain": lambda app: DRAIN_SECONDS,
    "sweep": lambda app: SWEEP_SECONDS,
    "sla": lambda app: app.config.get("SCHEDULER_SECONDS", 60),
    "reviews": _reviews_period,
    "outbox": lambda app: OUTBOX_SECONDS if app.config.get("SMTP_HOST") else 0,
    "imap": lambda app: app.config.get("IMAP_SECONDS", 0) if app.config.get("IMAP_HOST") else 0,
}


def due_key(app: Flask, task: str) -> str:
    return key(app, "beat", task)


class Beat:
    def __init__(self, app: Flask, name: str | None = None):
        self.app = app
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def tick(self) -> list[str]:
        """Enqueue the tasks that are due and that no other beat claimed; returns their names."""
        r = redis_for(self.app)
        fired = []
        for task, period_of in PERIODS.items():
            period = period_of(self.app)
            if not period or period <= 0:
                continue
            k = due_key(self.app, task)
            if not r.set(k, self.name, nx=True, px=int(period * 1000)):
                continue
            try:
                if self._run(task):
                    fired.append(task)
            except Exception:
                r.delete(k)  # give the period back: the next tick (here or elsewhere) retries
                raise
        return fired

    def _run(self, task: str) -> bool:
        if task == "drain":
            return self._retrigger_drain()
        from portal.jobs.tasks import run_periodic

        queue_for(self.app).enqueue(run_periodic, task, job_timeout=TASK_TIMEOUT, **job_options(self.app),
                                    result_ttl=RESULT_TTL, description=f"periodic task {task}")
        return True

    def _retrigger_drain(self) -> bool:
        from kb.jobs import pending_count
        from portal.extensions import db
        from portal.jobs.trigger import enqueue_drain

        with self.app.app_context():
            try:
                waiting = pending_count(db.session)
            finally:
                db.session.remove()
        if not waiting:
            return False
        enqueue_drain(self.app)
        return True

    def run(self, stop: threading.Event, every: float = TICK_SECONDS) -> None:
        """Tick until ``stop`` is set; a failed tick (Redis or the database away) is logged
        and the next one tries again."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep beating
                log.exception("beat %s: tick failed; retrying", self.name)
            stop.wait(every)

    def start(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="rq-beat", daemon=True)
        thread.start()
        return thread, stop

"""The search engine as an app extension, and the in-process index worker.

The engine (and the embedding model inside it) is built on first use, not at
start-up. In the embedded default a daemon thread applies index jobs; it is
woken after every commit and also polls, so nothing waits on a lost wake-up.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from search import SearchConfig, SearchEngine, load_embedder

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
SWEEP_SECONDS = 60.0  # how often the worker marks idle intake sessions as abandoned
# The SLA scheduler (kb.scheduler) runs every SCHEDULER_SECONDS (config; 0 = not in-process);
# the outbox is sent every round and the IMAP mailbox fetched every IMAP_SECONDS.


class SearchHolder:
    def __init__(self, app: Flask):
        self.app = app
        self._engine: SearchEngine | None = None
        self._embedder = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._last_sweep = 0.0
        self._last_schedule: float | None = None  # None: run the first scheduler pass at once
        self._last_fetch: float | None = None     # the same for the IMAP mailbox

    def config(self) -> SearchConfig:
        c = self.app.config
        return SearchConfig(max_query_chars=c["MAX_QUERY_CHARS"], keyword_weight=c["SEARCH_KEYWORD_WEIGHT"],
                            semantic_weight=c["SEARCH_SEMANTIC_WEIGHT"], fusion=c["SEARCH_FUSION"])

    def embedder(self):
        if self._embedder is None:
            self._embedder = load_embedder(self.app.config["EMBEDDING_MODEL"] or None)
        return self._embedder

    @property
    def engine(self) -> SearchEngine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._open()
        return self._engine

    def engine_for_rebuild(self) -> SearchEngine:
        """An engine that opens even if the index was built by another model or schema,
        so that a reindex can replace it (queries on it still refuse until then)."""
        self.close()
        return self._open(allow_mismatch=True)

    def _open(self, allow_mismatch: bool = False):
        """The configured backend: the local index folder, or the shared PostgreSQL tables."""
        c = self.app.config
        if c.get("SEARCH_BACKEND") == "postgresql":
            from search.pg import PgSearchEngine

            return PgSearchEngine(libpq_url(c["SEARCH_DATABASE_URL"]), self.embedder(), self.config(),
                                  allow_mismatch=allow_mismatch, text_config=c["SEARCH_TEXT_CONFIG"])
        return SearchEngine(c["INDEX_PATH"], self.embedder(), self.config(), allow_mismatch=allow_mismatch)

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def wake(self) -> None:
        self._wake.set()

    def start_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="index-worker", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            # Clear before working: a commit made while we work (ours included) wakes
            # the next round at once, but an idle worker waits instead of spinning.
            self._wake.clear()
            self.run_once()
            self._wake.wait(POLL_SECONDS)

    def run_once(self) -> int:
        """Apply every pending index job; returns how many were applied."""
        from kb.indexing import process_jobs
        from kb.intake import sweep_abandoned
        from portal.extensions import db

        done = 0
        with self.app.app_context():
            try:
                engine = self.engine
                while n := process_jobs(db.session, engine):
                    db.session.commit()
                    done += n
                if time.monotonic() - self._last_sweep >= SWEEP_SECONDS:
                    self._last_sweep = time.monotonic()
                    if sweep_abandoned(db.session):
                        db.session.commit()
                db.session.rollback()  # end the read transaction (no commit, no wake-up)
            except Exception:  # noqa: BLE001 - keep the worker alive; the job records the error
                log.exception("index worker: job batch failed; it will be retried")
                db.session.commit()  # keep attempts/last_error written by process_jobs
            finally:
                db.session.remove()
            self._schedule()
        self._channels()
        return done

    def _schedule(self) -> None:
        """A scheduler pass when one is due, isolated from indexing: a failure is logged and
        rolled back, and the worker (and the next pass) carry on."""
        from kb.scheduler import run_scheduler
        from portal.extensions import db

        every = self.app.config.get("SCHEDULER_SECONDS", 60)
        if not every or (self._last_schedule is not None and time.monotonic() - self._last_schedule < every):
            return
        self._last_schedule = time.monotonic()
        try:
            run_scheduler(db.session, commit=db.session.commit)
            db.session.commit()
        except Exception:  # noqa: BLE001 - keep the worker alive; the next pass retries
            log.exception("scheduler pass failed; it runs again in %s s", every)
            db.session.rollback()
        finally:
            db.session.remove()
        self._reviews()

    def _reviews(self) -> None:
        """Publish the periodic reviews that are due (portal.insight_review), isolated like the
        scheduler: a failure is logged and tried again on the next pass."""
        from portal.extensions import db
        from portal.insight_review import publish_due_reviews, review_periods

        if not review_periods(self.app):
            return
        try:
            publish_due_reviews(self.app, embedder=self.embedder())
        except Exception:  # noqa: BLE001 - nothing is kept or sent half-way: it commits once
            log.exception("publishing the periodic review failed; it is tried again on the next pass")
            db.session.rollback()
        finally:
            db.session.remove()


    def _channels(self) -> None:
        """Send due mail (every round: a cheap query when nothing waits) and fetch the IMAP
        mailbox every IMAP_SECONDS. Each runs with no transaction open (they commit per
        message); a failure is logged and the next round retries."""
        from portal.mail_admin import fetch_mailbox
        from portal.outbox import send_outbox

        try:
            send_outbox(self.app)
        except Exception:  # noqa: BLE001 - the outbox keeps every mail; the next round retries
            log.exception("sending the outbox failed; it is retried")
        every = self.app.config.get("IMAP_SECONDS", 0)
        if not self.app.config.get("IMAP_HOST") or not every:
            return
        if self._last_fetch is not None and time.monotonic() - self._last_fetch < every:
            return
        self._last_fetch = time.monotonic()
        try:
            fetch_mailbox(self.app)
        except Exception:  # noqa: BLE001 - nothing is removed from the mailbox before it is committed
            log.exception("fetching the mailbox failed; it runs again in %s s", every)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as a URL psycopg's connect() takes."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def holder() -> SearchHolder:
    return current_app.extensions["helpdesk_search"]


def engine() -> SearchEngine:
    return holder().engine


def init_app(app: Flask) -> None:
    h = SearchHolder(app)
    app.extensions["helpdesk_search"] = h

    if app.config["WORKER"] == "thread":
        @event.listens_for(Session, "after_commit")
        def _wake_worker(_session):
            h.wake()

        @app.before_request
        def _ensure_worker():
            h.start_worker()
    elif app.config["WORKER"] == "rq":
        # Jobs on Redis: after a commit that wrote index jobs, trigger a drain on the RQ
        # queue; `flask worker rq` runs it and the periodic tasks (portal.jobs).
        from portal.jobs.trigger import init_app as init_queue_trigger

        init_queue_trigger(app)

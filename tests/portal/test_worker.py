"""The in-process index worker of the embedded default."""
import time

from kb import jobs
from kb.search_service import search_articles
from portal.search_ext import holder
from tests.conftest import make_app


def test_worker_applies_jobs_after_a_commit(app, session, make_article):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    assert holder().run_once() == 1
    assert jobs.pending(session) == []
    titles = [s.article.title for s in search_articles(session, None, holder().engine, "dock firmware")]
    assert titles == ["Docking station not detected"]


def test_idle_worker_does_not_spin(tmp_path, monkeypatch):
    from kb import indexing
    from portal.extensions import db

    app = make_app(tmp_path, WORKER="thread")
    with app.app_context():
        db.create_all()
    calls = []
    real = indexing.process_jobs
    monkeypatch.setattr(indexing, "process_jobs", lambda *a, **k: calls.append(1) or real(*a, **k))
    h = app.extensions["helpdesk_search"]
    h.engine  # load before timing
    h.start_worker()
    time.sleep(1.5)
    assert 1 <= len(calls) <= 3, f"idle worker ran {len(calls)} rounds in 1.5 s"


def test_worker_also_marks_idle_intake_sessions_abandoned(app, session):
    from datetime import timedelta

    from kb.db import utcnow
    from kb.intake_models import IntakeSession

    stale = IntakeSession(token="t" * 43, started_at=utcnow() - timedelta(hours=2),
                          last_activity_at=utcnow() - timedelta(hours=2))
    session.add(stale)
    session.commit()
    holder()._last_sweep = 0.0
    holder().run_once()
    session.expire_all()
    assert session.get(IntakeSession, stale.id).outcome == "abandoned"

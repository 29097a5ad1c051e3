"""The database is the source of truth; the index follows it through jobs, rebuilds and drift checks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import indexing, jobs
from kb.articles_models import Article
from kb.search_service import search_articles
from search import IndexMismatchError, SearchEngine, load_embedder


@pytest.fixture
def engine(app):
    return app.extensions["helpdesk_search"].engine


def titles(session, engine, text, actor=None):
    return [s.article.title for s in search_articles(session, actor, engine, text)]


def test_change_and_job_commit_together(session, make_article):
    article = make_article(title="Printer offline on floor 3")
    assert [j.target_id for j in jobs.pending(session)] == [article.id]


def test_rolled_back_change_leaves_no_job(session, make_article):
    from kb.taxonomy import get_category

    session.add(Article(title="Never saved", body="x", category=get_category(session, "network")))
    session.flush()
    jobs.enqueue(session, "index_article", 999)
    session.rollback()
    assert jobs.pending(session) == []


def test_jobs_make_articles_findable_and_deletions_disappear(session, engine, make_article, index_now):
    article = make_article(title="VPN disconnects every hour", body="Renew the VPN certificate from the portal.")
    assert titles(session, engine, "vpn certificate") == []
    assert index_now() == 1
    assert titles(session, engine, "vpn certificate") == ["VPN disconnects every hour"]
    session.delete(article)
    jobs.enqueue(session, "index_article", article.id)
    session.commit()
    index_now()
    assert titles(session, engine, "vpn certificate") == []


def test_processing_a_job_twice_is_harmless(session, engine, make_article, index_now):
    article = make_article(title="Mailbox full", body="Archive old mail to free space.")
    index_now()
    jobs.enqueue(session, "index_article", article.id)
    session.commit()
    index_now()
    assert engine.count() == 1
    assert titles(session, engine, "mailbox archive") == ["Mailbox full"]


def test_failed_index_write_keeps_the_job_for_retry(session, engine, make_article, monkeypatch):
    make_article(title="Laptop will not start")

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(engine, "index", broken)
    with pytest.raises(OSError):
        indexing.process_jobs(session, engine)
    session.commit()
    job = session.scalars(__import__("sqlalchemy").select(jobs.Job)).one()
    assert job.done_at is None and job.attempts == 1 and "disk full" in job.last_error
    monkeypatch.undo()
    assert indexing.process_jobs(session, engine) == 1


def test_requesters_never_get_internal_or_unpublished_articles(session, engine, make_article, make_user, index_now):
    make_article(title="Reset a password (public)", body="password reset steps", audience="public")
    make_article(title="Reset a password in the AD console", body="password reset steps", audience="internal")
    make_article(title="Reset a password draft", body="password reset steps", status="draft")
    index_now()
    assert titles(session, engine, "password reset") == ["Reset a password (public)"]
    assert titles(session, engine, "password reset", make_user("requester")) == ["Reset a password (public)"]
    staff = titles(session, engine, "password reset", make_user("agent"))
    assert sorted(staff) == ["Reset a password (public)", "Reset a password in the AD console"]


def test_reindex_resumes_after_a_crash(session, engine, make_article, monkeypatch):
    for i in range(indexing.BATCH * 2 + 5):
        make_article(title=f"Article number {i}", body=f"body text {i}")
    real_load = indexing._load
    calls = {"n": 0}

    def crashing_load(s, ids):
        calls["n"] += 1
        if calls["n"] == 3:  # third batch: two batches are flushed with their checkpoint
            raise RuntimeError("power cut")
        return real_load(s, ids)

    monkeypatch.setattr(indexing, "_load", crashing_load)
    with pytest.raises(RuntimeError):
        indexing.reindex(session, engine)
    assert engine.count() == 0  # the live generation was untouched
    monkeypatch.setattr(indexing, "_load", real_load)
    seen = []
    done = indexing.reindex(session, engine, progress=lambda d, t: seen.append((d, t)))
    total = indexing.BATCH * 2 + 5
    assert seen[0] == (indexing.BATCH * 2, total)  # resumed after the checkpoint
    assert done == total and engine.count() == total
    assert indexing.verify(session, engine).clean
    assert jobs.pending(session) == []


def test_verify_reports_missing_stale_and_extra(session, engine, make_article, index_now):
    a = make_article(title="Wi-Fi guest access")
    b = make_article(title="Printer jam")
    index_now()
    make_article(title="Not yet indexed")
    b.title = "Printer paper jam"
    session.commit()
    engine.index([indexing.article_document(a).__class__(id="article:9999", title="ghost", body="ghost")])
    drift = indexing.verify(session, engine)
    assert (len(drift.missing), drift.stale, drift.extra) == (1, [b.id], ["article:9999"])
    indexing.repair(session, drift)
    session.commit()
    while indexing.process_jobs(session, engine):
        session.commit()
    assert indexing.verify(session, engine).clean


def test_index_built_by_another_model_asks_for_reindex(app, tmp_path):
    path = tmp_path / "idx"
    SearchEngine(path, load_embedder("hash")).close()
    for manifest in Path(path).rglob("manifest.json"):
        data = json.loads(manifest.read_text())
        data["embedder"] = "another-model"
        manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="reindex"):
        SearchEngine(path, load_embedder("hash"))


@pytest.mark.parametrize("text", ["", "   ", '"unbalanced', "(a OR b) AND NOT c", "title:x*", "😀" * 50,
                                  "a\x00b", "x" * 50_000, "打印机 AND (卡纸"])
def test_odd_queries_never_crash(session, engine, make_article, index_now, text):
    make_article(title="Printer paper jam", body="Open tray 2.")
    index_now()
    assert isinstance(search_articles(session, None, engine, text), list)


def test_search_cli_reindex_verify(app, session, make_article):
    for i in range(3):
        make_article(title=f"Article {i}")
    runner = app.test_cli_runner()
    verify = runner.invoke(args=["search", "verify"])
    assert verify.exit_code == 1 and "missing: 3" in verify.output
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert "Indexed 3 articles" in result.output
    verify = runner.invoke(args=["search", "verify"])
    assert verify.exit_code == 0 and "consistent" in verify.output


def _pretend_built_by(model: str, app) -> None:
    """Rewrite the stored embedder name: the index's manifest files, or its PostgreSQL state."""
    if app.config["SEARCH_BACKEND"] == "postgresql":
        import psycopg

        from portal.search_ext import libpq_url

        with psycopg.connect(libpq_url(app.config["SEARCH_DATABASE_URL"])) as conn:
            conn.execute("UPDATE search_state SET value = jsonb_set(value, '{embedder}', to_jsonb(%s::text)) "
                         "WHERE key = 'current'", (model,))
        return
    for manifest in Path(app.config["INDEX_PATH"]).rglob("manifest.json"):
        data = json.loads(manifest.read_text())
        data["embedder"] = model
        manifest.write_text(json.dumps(data))


def test_reindex_replaces_an_index_built_by_another_model(app, session, make_article):
    make_article(title="Printer paper jam")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    app.extensions["helpdesk_search"].close()
    _pretend_built_by("another-model", app)
    verify = runner.invoke(args=["search", "verify"])
    assert verify.exit_code != 0 and "reindex" in str(verify.exception or verify.output)
    result = runner.invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    app.extensions["helpdesk_search"].close()
    assert runner.invoke(args=["search", "verify"]).exit_code == 0


def test_edit_applied_during_a_rebuild_is_not_lost(session, engine, make_article, monkeypatch, index_now):
    first = make_article(title="Old title of the first article")
    for i in range(indexing.BATCH + 3):
        make_article(title=f"Filler {i}")
    index_now()
    real_load = indexing._load
    calls = {"n": 0}

    def edit_between_batches(s, ids):
        calls["n"] += 1
        if calls["n"] == 2:  # the first batch (with `first`) is already in the new generation
            first.title = "Brand new title"
            jobs.enqueue(s, "index_article", first.id)
            indexing.process_jobs(s, engine)  # the worker applies it to the live (old) generation
        return real_load(s, ids)

    monkeypatch.setattr(indexing, "_load", edit_between_batches)
    indexing.reindex(session, engine)
    session.commit()
    monkeypatch.undo()
    index_now()
    assert indexing.verify(session, engine).clean
    assert titles(session, engine, "brand new title")[0] == "Brand new title"

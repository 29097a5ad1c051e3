"""Keeping the search index in step with the database (the source of truth).

Changes enqueue ``index_article`` jobs in their own transaction (``kb.jobs``);
``process_jobs`` is the one writer that applies them. ``reindex`` rebuilds a
fresh generation in batches with a checkpoint, so a crash resumes where it
stopped; ``verify`` reports drift between the database and the index.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kb import jobs
from kb.articles_models import Article
from kb.db import utcnow
from search import Document, SearchEngine

BATCH = 64


def doc_id(article_id: int) -> str:
    return f"article:{article_id}"


def article_id_of(doc: str) -> int | None:
    kind, _, num = doc.partition(":")
    return int(num) if kind == "article" and num.isdigit() else None


def article_document(article: Article) -> Document:
    """What search sees of an article: text plus the facets used for filtering."""
    tags = tuple(article.tag_names)
    fields = {
        "audience": article.audience,
        "status": article.status,
        "category": article.category.slug if article.category else "",
        "lang": article.lang,
    }
    if article.subcategory is not None:
        fields["subcategory"] = article.subcategory.slug
    digest = hashlib.sha256("\x1f".join(
        [article.title, article.body, ",".join(tags), *(f"{k}={v}" for k, v in sorted(fields.items()))]
    ).encode()).hexdigest()[:16]
    return Document(id=doc_id(article.id), title=article.title, body=article.body, tags=tags,
                    fields=fields, version=digest)


def _load(session: Session, ids) -> dict[int, Article]:
    rows = session.scalars(select(Article).where(Article.id.in_(list(ids)))
                           .options(selectinload(Article.tags), selectinload(Article.category),
                                    selectinload(Article.subcategory)))
    return {a.id: a for a in rows}


def process_jobs(session: Session, engine: SearchEngine, limit: int = 200) -> int:
    """Apply pending index jobs. Marks them done only after the index write succeeded.

    Returns the number of jobs processed. The caller commits.
    """
    batch = jobs.pending(session, limit)
    if not batch:
        return 0
    target_ids = {j.target_id for j in batch}
    articles = _load(session, target_ids)
    try:
        if articles:
            engine.index([article_document(a) for a in articles.values()])
        gone = [doc_id(i) for i in target_ids if i not in articles]
        if gone:
            engine.delete(gone)
    except Exception as exc:  # noqa: BLE001 - recorded on the job and retried
        for j in batch:
            j.attempts += 1
            j.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        session.flush()
        raise
    now = utcnow()
    for j in batch:
        j.attempts += 1
        j.done_at = now
        j.last_error = None
    session.flush()
    return len(batch)


def reindex(session: Session, engine: SearchEngine, *, resume: bool = True,
            progress: Callable[[int, int], None] | None = None, commit: Callable[[], None] | None = None) -> int:
    """Rebuild the whole index into a new generation; queries keep using the old one meanwhile.

    Articles are added in id order; after each batch the last id is flushed as
    the checkpoint, so a crashed run resumes after it. Jobs pending when the
    rebuild started are marked done at the end (the rebuild read newer data).
    """
    rebuild = engine.begin_rebuild(resume=resume)
    last_id = int(rebuild.checkpoint) if resume and rebuild.checkpoint else 0
    total = session.scalar(select(func.count(Article.id))) or 0
    done = session.scalar(select(func.count(Article.id)).where(Article.id <= last_id)) or 0
    high_water = session.scalar(select(func.max(jobs.Job.id))) or 0
    if progress:
        progress(done, total)
    while True:
        ids = list(session.scalars(select(Article.id).where(Article.id > last_id).order_by(Article.id).limit(BATCH)))
        if not ids:
            break
        articles = _load(session, ids)
        docs = [article_document(articles[i]) for i in ids if i in articles]
        if commit:  # end the read transaction before embedding: on SQLite it holds the write lock
            commit()
        rebuild.add(docs)
        last_id = ids[-1]
        rebuild.flush(str(last_id))
        done += len(ids)
        if progress:
            progress(done, total)
    rebuild.commit()
    now = utcnow()
    for job in session.scalars(select(jobs.Job).where(jobs.Job.done_at.is_(None), jobs.Job.id <= high_water)):
        job.done_at = now
    session.flush()
    # Jobs the worker applied to the old generation while this one was being built are
    # not in it if their article had already been passed: find them by content hash.
    repair(session, verify(session, engine))
    if commit:
        commit()
    return done


@dataclass
class Drift:
    missing: list[int] = field(default_factory=list)   # in the database, not in the index
    stale: list[int] = field(default_factory=list)     # indexed content differs from the database
    extra: list[str] = field(default_factory=list)     # in the index, not in the database
    pending_jobs: int = 0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.stale or self.extra)


def verify(session: Session, engine: SearchEngine) -> Drift:
    indexed = engine.versions()
    drift = Drift(pending_jobs=jobs.pending_count(session))
    seen = set()
    last = 0
    while True:
        ids = list(session.scalars(select(Article.id).where(Article.id > last).order_by(Article.id).limit(500)))
        if not ids:
            break
        for article in _load(session, ids).values():
            key = doc_id(article.id)
            seen.add(key)
            if key not in indexed:
                drift.missing.append(article.id)
            elif indexed[key] != article_document(article).version:
                drift.stale.append(article.id)
        last = ids[-1]
    drift.extra = sorted(k for k in indexed if k not in seen)
    drift.missing.sort()
    drift.stale.sort()
    return drift


def repair(session: Session, drift: Drift) -> int:
    """Enqueue jobs that fix a drift report (the worker then applies them)."""
    n = 0
    for article_id in drift.missing + drift.stale:
        jobs.enqueue(session, "index_article", article_id)
        n += 1
    for key in drift.extra:
        num = article_id_of(key)
        if num is not None:
            jobs.enqueue(session, "index_article", num)
            n += 1
    return n


def failed_index_jobs(session: Session, *, page: int = 1, per_page: int = 25) -> tuple[list, int]:
    """Index jobs whose last attempt failed (still retrying or given up), newest first,
    and how many there are (for the admins' dead-letter page)."""
    cond = jobs.Job.last_error.is_not(None) & jobs.Job.done_at.is_(None)
    total = session.scalar(select(func.count(jobs.Job.id)).where(cond)) or 0
    rows = list(session.scalars(select(jobs.Job).where(cond).order_by(jobs.Job.id.desc())
                                .offset((max(page, 1) - 1) * per_page).limit(per_page)))
    return rows, total


def retry_index_job(session: Session, job_id: int) -> bool:
    """Give a failed index job a fresh set of attempts (it is pending again); False if there
    is no such unfinished job. Flushes; the caller commits and wakes the worker."""
    job = session.get(jobs.Job, job_id)
    if job is None or job.done_at is not None:
        return False
    job.attempts = 0
    session.flush()
    return True

"""Self-service insights: how "Get help" sessions ended, the honest deflection rate, the
articles that deflect most (and whose deflections held), and the content gaps.

The period is when the session started; the team, category and channel filters do not
apply (a session has none of them until it becomes a ticket).

Honest deflection is :func:`kb.deflection.deflection_stats`: a "this solved my problem"
counts once the 7-day window passed without a ticket on the same problem.

**Content gaps** are the sessions that ended without an answer that held: a ticket was filed,
the visitor gave up, or the deflection later failed. Their last query (what the person
finally typed) is embedded and the queries are clustered by meaning (average-link, the
threshold of :mod:`kb.draft_batch`), so "second monitor", "extra screen for my desk" and
"I need another display" are one gap. At most :data:`MAX_GAP_QUERIES` of the most recent
are clustered; their vectors are cached by text in the process, so a dashboard reload does
not encode them again (short queries encode at a few hundred per second on this machine).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.articles_models import Article
from kb.db import utcnow
from kb.deflection import DeflectionStats, deflection_stats
from kb.draft_batch import CLUSTER_THRESHOLD, cluster_vectors
from kb.insights import Chart, Filters, buckets
from kb.intake_models import ABANDONED, DEFLECTED, TICKET, DeflectionFailure, IntakeQuery, IntakeSession
from kb.users import User

MAX_GAP_QUERIES = 400
MAX_GAPS = 10
TOP_ARTICLES = 10
SESSION_SERIES = ("deflected", "ticket", "abandoned", "open")
_CACHE_SIZE = 5000
_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()


@dataclass(frozen=True)
class ArticleDeflections:
    article_id: int
    title: str
    author: str | None
    deflected: int
    failed: int

    @property
    def held(self) -> int:
        return self.deflected - self.failed


@dataclass(frozen=True)
class Gap:
    """One unanswered need: the most typical query first, and how its sessions ended."""

    queries: list[str]
    sessions: int
    tickets: int
    abandoned: int
    failed: int

    @property
    def example(self) -> str:
        return self.queries[0]


@dataclass(frozen=True)
class SelfService:
    stats: DeflectionStats
    sessions: Chart             # sessions started per bucket, by outcome
    articles: list[ArticleDeflections]
    gaps: list[Gap]
    gap_queries: int            # unanswered sessions looked at
    gaps_truncated: bool        # more than MAX_GAP_QUERIES: the oldest were left out

    def rows(self) -> list[list]:
        s = self.stats
        out = [["figure", "value"], ["sessions", s.sessions], ["deflected (claimed)", s.deflected],
               ["confirmed after the window", s.confirmed], ["pending", s.pending], ["failed", s.failed],
               ["unverifiable (anonymous)", s.unverifiable], ["ended in a ticket", s.ticket_sessions],
               ["abandoned", s.abandoned], ["honest deflection rate", "" if s.honest_rate is None else
                                            round(s.honest_rate, 4)], []]
        out.append(["article", "author", "deflected", "failed", "held"])
        out += [[a.title, a.author or "", a.deflected, a.failed, a.held] for a in self.articles]
        out.append([])
        out.append(["content gap (most typical query)", "sessions", "tickets", "abandoned", "failed deflections",
                    "other wordings"])
        out += [[g.example, g.sessions, g.tickets, g.abandoned, g.failed, " | ".join(g.queries[1:4])]
                for g in self.gaps]
        return out


def self_service(session: Session, actor, f: Filters, *, embedder=None, now: datetime | None = None) -> SelfService:
    """The period's figures (``embedder`` None: no content gaps, e.g. for the CSV of counts)."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    now = now or utcnow()
    stats = deflection_stats(session, f.start, f.end, now=now)
    gaps, looked_at, truncated = content_gaps(session, f, embedder) if embedder is not None else ([], 0, False)
    return SelfService(stats=stats, sessions=_sessions_chart(session, f), articles=top_articles(session, f),
                       gaps=gaps, gap_queries=looked_at, gaps_truncated=truncated)


def _in_period(f: Filters):
    return and_(IntakeSession.started_at >= f.start, IntakeSession.started_at < f.end)


def _sessions_chart(session: Session, f: Filters) -> Chart:
    labels, bucket_of = buckets(f)
    day = func.date(IntakeSession.started_at)
    values = {name: [0] * len(labels) for name in SESSION_SERIES}
    for d, outcome, n in session.execute(select(day, IntakeSession.outcome, func.count(IntakeSession.id))
                                         .where(_in_period(f)).group_by(day, IntakeSession.outcome)):
        values[outcome or "open"][bucket_of[str(d)[:10]]] += n
    return Chart(labels=labels, series=[(name, values[name]) for name in SESSION_SERIES if any(values[name])])


def deflections_by_article(f: Filters):
    """Per article, the period's deflections and how many failed, as a subquery grouped before
    anything joins the (wide) article rows: one probe per article, not per session."""
    return (select(IntakeSession.deflected_article_id.label("article_id"),
                   func.count(IntakeSession.id).label("deflected"), func.count(DeflectionFailure.id).label("failed"))
            .outerjoin(DeflectionFailure, DeflectionFailure.session_id == IntakeSession.id)
            .where(_in_period(f), IntakeSession.outcome == DEFLECTED)
            .group_by(IntakeSession.deflected_article_id).subquery())


def top_articles(session: Session, f: Filters, limit: int = TOP_ARTICLES) -> list[ArticleDeflections]:
    """The articles whose deflections held most, with their authors."""
    per = deflections_by_article(f)
    rows = session.execute(
        select(Article.id, Article.title, User.name, per.c.deflected, per.c.failed)
        .select_from(per).join(Article, Article.id == per.c.article_id)
        .outerjoin(User, User.id == Article.author_id)
        .order_by((per.c.deflected - per.c.failed).desc(), per.c.deflected.desc(), Article.id).limit(limit))
    return [ArticleDeflections(*row) for row in rows]


def _encode(embedder, texts: list[str]) -> np.ndarray:
    """Normalised vectors, cached by (model, text)."""
    name = getattr(embedder, "name", type(embedder).__name__)
    missing = list(dict.fromkeys(t for t in texts if (name, t) not in _vectors))
    if missing:
        encoded = np.asarray(embedder.encode(missing), dtype=np.float32)
        encoded /= np.maximum(np.linalg.norm(encoded, axis=1, keepdims=True), 1e-12)
        for text, vec in zip(missing, encoded):
            _vectors[(name, text)] = vec
    for t in texts:
        _vectors.move_to_end((name, t))
    while len(_vectors) > _CACHE_SIZE:
        _vectors.popitem(last=False)
    return np.stack([_vectors[(name, t)] for t in texts])


def content_gaps(session: Session, f: Filters, embedder, *, limit: int = MAX_GAP_QUERIES,
                 threshold: float = CLUSTER_THRESHOLD) -> tuple[list[Gap], int, bool]:
    """Unanswered needs clustered by meaning, the most sessions first (clusters of one are left
    out: a gap is something asked more than once). Returns (gaps, sessions looked at, truncated)."""
    # the newest unanswered sessions (walking the started_at index back), then each one's last
    # query by the (session, seq) key: the cost follows ``limit``, not the sessions ever recorded
    last_text = (select(IntakeQuery.text).where(IntakeQuery.session_id == IntakeSession.id)
                 .order_by(IntakeQuery.seq.desc()).limit(1).correlate(IntakeSession).scalar_subquery())
    unanswered = or_(IntakeSession.outcome.in_((TICKET, ABANDONED)), DeflectionFailure.id.is_not(None))
    rows = session.execute(
        select(last_text.label("text"), IntakeSession.outcome, DeflectionFailure.id.is_not(None))
        .select_from(IntakeSession)
        .outerjoin(DeflectionFailure, DeflectionFailure.session_id == IntakeSession.id)
        .where(_in_period(f), unanswered)
        .order_by(IntakeSession.started_at.desc(), IntakeSession.id.desc()).limit(limit + 1)).all()
    truncated = len(rows) > limit
    rows = [r for r in rows[:limit] if (r.text or "").strip()]
    if len(rows) < 2:
        return [], len(rows), truncated
    texts = [" ".join(r.text.split()) for r in rows]
    vectors = _encode(embedder, texts)
    usable = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)  # a zero vector has no direction (cosine)
    if len(usable) < len(texts):
        rows, texts, vectors = [rows[i] for i in usable], [texts[i] for i in usable], vectors[usable]
        if len(rows) < 2:
            return [], len(rows), truncated
    gaps = []
    for group in cluster_vectors(vectors, threshold):
        if len(group) < 2:
            continue
        centre = vectors[group].mean(axis=0)
        order = [group[i] for i in np.argsort(-(vectors[group] @ centre), kind="stable")]
        queries = list(dict.fromkeys(texts[i] for i in order))
        members = [rows[i] for i in group]
        gaps.append(Gap(queries=queries, sessions=len(group),
                        tickets=sum(1 for m in members if m.outcome == TICKET),
                        abandoned=sum(1 for m in members if m.outcome == ABANDONED),
                        failed=sum(1 for m in members if m[2])))
    gaps.sort(key=lambda g: (-g.sessions, g.example))
    return gaps[:MAX_GAPS], len(rows), truncated

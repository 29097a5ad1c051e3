"""Recurring problems: the period's tickets clustered by meaning, growing or shrinking against
the previous period of the same length, and whether an article covers each.

Tickets are clustered by their stored MiniLM vectors (written when a ticket is filed, see
:mod:`kb.ticket_similarity`) with the average-link threshold of :mod:`kb.draft_batch`;
tickets without a stored vector for the current model are counted and left out (encoding
thousands on a page view would take minutes). At most :data:`MAX_TICKETS` of the most recent
are clustered. The previous period's tickets are each counted for the problem whose centre
they are closest to, if that cosine reaches the threshold, so "growing" compares like with
like. A problem is covered when one of its tickets was resolved with an article or an
article was drafted from it; otherwise its resolved tickets can be drafted from.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import numpy as np
from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from kb import drafting, permissions
from kb.articles_models import Article
from kb.draft_batch import CLUSTER_THRESHOLD, cluster_vectors
from kb.insights import Filters, scope
from kb.loop_models import ArticleSource
from kb.ticket_flow import CLOSED, RESOLVED
from kb.ticket_records import TicketArticleLink, TicketVector
from kb.tickets import Ticket

MAX_TICKETS = 2000
MIN_TICKETS = 3
MAX_PROBLEMS = 12
SHOWN_TICKETS = 8


@dataclass
class Problem:
    tickets: list[Ticket]             # the most typical first (at most SHOWN_TICKETS)
    count: int                        # tickets in the period
    previous: int                     # tickets of the previous period closest to it
    title: str
    article: Article | None = None    # the article that covers it
    draft_ids: list[int] = field(default_factory=list)  # resolved tickets to draft from (no article)

    @property
    def change(self) -> float | None:
        """The relative change against the previous period (None when it had none)."""
        return (self.count - self.previous) / self.previous if self.previous else None

    @property
    def trend(self) -> str:
        if self.previous == 0:
            return "new"
        change = self.change
        return "growing" if change >= 0.25 else "shrinking" if change <= -0.25 else "steady"


@dataclass
class Problems:
    problems: list[Problem]
    clustered: int        # tickets with a vector that were clustered
    without_vector: int   # tickets of the period left out for want of a vector
    truncated: bool       # more than MAX_TICKETS in the period

    def rows(self) -> list[list]:
        out = [["problem (most typical ticket)", "tickets", "previous period", "trend", "article", "tickets"]]
        out += [[p.title, p.count, p.previous, p.trend, p.article.title if p.article else "",
                 " ".join(t.reference for t in p.tickets)] for p in self.problems]
        return out


def _with_vectors(session: Session, conds: list, model: str, limit: int, *, counted: bool = True):
    """(ids, matrix, tickets without a vector, truncated) for the most recent tickets that have
    a vector (``counted=False``: the count is not needed and not taken, 0)."""
    vectored = (TicketVector.ticket_id == Ticket.id) & (TicketVector.model == model)
    rows = session.execute(select(Ticket.id, TicketVector.vector).join(TicketVector, vectored)
                           .where(*conds).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1)).all()
    truncated = len(rows) > limit
    total = with_vector = 0
    if counted:
        total = session.scalar(select(func.count(Ticket.id)).where(*conds)) or 0
        with_vector = len(rows) if not truncated else (  # all of them were read: no second pass
            session.scalar(select(func.count(Ticket.id)).join(TicketVector, vectored).where(*conds)) or 0)
    rows = rows[:limit]
    matrix = (np.stack([np.frombuffer(r.vector, dtype=np.float32) for r in rows]) if rows
              else np.zeros((0, 1), dtype=np.float32))
    usable = np.flatnonzero(np.linalg.norm(matrix, axis=1) > 0)  # a zero vector has no direction (cosine)
    if len(usable) < len(rows):
        with_vector -= (len(rows) - len(usable)) if counted else 0
        rows, matrix = [rows[i] for i in usable], matrix[usable]
    return [r.id for r in rows], matrix, total - with_vector, truncated


def _covering(session: Session, ids: list[int]) -> dict[int, int]:
    """{ticket id: article id} for tickets resolved with an article or drafted into one."""
    if not ids:
        return {}
    links = union_all(select(TicketArticleLink.ticket_id, TicketArticleLink.article_id)
                      .where(TicketArticleLink.ticket_id.in_(ids)),
                      select(ArticleSource.ticket_id, ArticleSource.article_id).where(ArticleSource.ticket_id.in_(ids)))
    return {t: a for t, a in session.execute(links)}


def recurring_problems(session: Session, actor, f: Filters, *, embedder, threshold: float = CLUSTER_THRESHOLD,
                       min_tickets: int = MIN_TICKETS, limit: int = MAX_PROBLEMS) -> Problems:
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    model = embedder.name
    ids, vectors, without, truncated = _with_vectors(session, scope(f), model, MAX_TICKETS)
    result = Problems(problems=[], clustered=len(ids), without_vector=without, truncated=truncated)
    if len(ids) < min_tickets:
        return result
    groups = [g for g in cluster_vectors(vectors, threshold) if len(g) >= min_tickets]
    if not groups:
        return result
    centres = np.stack([vectors[g].mean(axis=0) for g in groups])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    days = (f.until - f.since).days + 1
    before = replace(f, since=f.since - timedelta(days=days), until=f.since - timedelta(days=1))
    _prev_ids, prev_vectors, _, _ = _with_vectors(session, scope(before), model, MAX_TICKETS, counted=False)
    previous = [0] * len(groups)
    if len(prev_vectors) and prev_vectors.shape[1] == centres.shape[1]:
        sims = prev_vectors @ centres.T
        best = sims.argmax(axis=1)
        for i, k in enumerate(best.tolist()):
            if sims[i, k] >= threshold:
                previous[k] += 1
    order = sorted(range(len(groups)), key=lambda k: (-len(groups[k]), -(len(groups[k]) - previous[k])))[:limit]
    typical = {k: [groups[k][i] for i in np.argsort(-(vectors[groups[k]] @ centres[k]), kind="stable")]
               for k in order}
    wanted = {ids[i] for k in order for i in typical[k]}
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(wanted)))}
    covering = _covering(session, list(wanted))
    articles = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(set(covering.values()))))}
    for k in order:
        members = [tickets[ids[i]] for i in typical[k] if permissions.can_view_ticket(actor, tickets[ids[i]])]
        if not members:
            continue
        article_id = next((covering[t.id] for t in members if t.id in covering), None)
        problem = Problem(tickets=members[:SHOWN_TICKETS], count=len(groups[k]), previous=previous[k],
                          title=members[0].title, article=articles.get(article_id))
        if problem.article is None:
            problem.draft_ids = [t.id for t in members if t.status in (RESOLVED, CLOSED)
                                 and permissions.can_draft_article(actor, t)][:drafting.MAX_TICKETS]
        result.problems.append(problem)
    return result

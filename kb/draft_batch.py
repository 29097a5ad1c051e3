"""Batch from history: recurring problems among recently closed tickets that no article covers.

Candidates are tickets closed since a date that no article covers yet: not linked to an
article as used for the fix, not the source of an article, not part of an open or applied
"update article X" suggestion. They are clustered by meaning (the tickets' stored MiniLM
vectors, average-link agglomerative clustering with a cosine threshold measured on the
paraphrase groups of stackfaq, see docs/benchmarks.md) and every cluster of at least
``min_tickets`` becomes a proposal: one draft citing all its tickets, or an update to the
article that already covers it (:mod:`kb.draft_dedup`). Proposals are ranked by the number
of people the problem affected (requesters and followers), then by tickets, then recency.

Only tickets the actor may draft from are read (restricted complaints stay out for agents).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select, union
from sqlalchemy.orm import Session

from kb import drafting, permissions, ticket_similarity
from kb.channel_models import TicketFollower
from kb.db import utcnow
from kb.draft_dedup import Cover, draft_or_update, find_cover
from kb.errors import ValidationError
from kb.loop_models import ArticleSource, ArticleSuggestion, ArticleSuggestionTicket
from kb.ticket_flow import CLOSED
from kb.ticket_records import TicketArticleLink, TicketVector
from kb.tickets import Ticket

CLUSTER_THRESHOLD = 0.55  # average-link cosine (see the module docstring)
MAX_TICKETS = 2000         # most recently closed candidates clustered at once (memory is n^2)
MAX_SINCE_DAYS = 366


@dataclass
class Cluster:
    """One recurring problem: its tickets (the most typical first) and who it affected."""

    tickets: list[Ticket]
    people: int
    cover: Cover | None = None
    draft_title: str = ""
    cohesion: float = 1.0  # mean cosine to the cluster's centre
    latest_at: datetime | None = None

    @property
    def ticket_ids(self) -> list[int]:
        return [t.id for t in self.tickets]


@dataclass
class BatchResult:
    clusters: list[Cluster] = field(default_factory=list)
    candidates: int = 0      # uncovered closed tickets looked at
    truncated: bool = False  # more than MAX_TICKETS: the oldest were left out


def parse_since(text: str | None) -> timedelta:
    """``30d``, ``2w``, ``12h`` or a bare number of days."""
    raw = (text or "30d").strip().lower()
    units = {"d": 1, "w": 7, "h": 1 / 24}
    unit = raw[-1] if raw[-1:] in units else "d"
    number = raw[:-1] if raw[-1:] in units else raw
    if not number.isdigit() or int(number) <= 0:
        raise ValidationError(f"Say how far back as a number with d, w or h (e.g. 30d), not {text!r}.", "since")
    delta = timedelta(days=int(number) * units[unit])
    if delta > timedelta(days=MAX_SINCE_DAYS):
        raise ValidationError(f"Look back at most {MAX_SINCE_DAYS} days at once.", "since")
    return delta


def covered_ticket_ids():
    """Tickets some article already covers (a SQL selectable of ticket ids)."""
    suggested = (select(ArticleSuggestionTicket.ticket_id)
                 .join(ArticleSuggestion, ArticleSuggestion.id == ArticleSuggestionTicket.suggestion_id)
                 .where(ArticleSuggestion.status.in_(("open", "applied"))))
    return union(select(TicketArticleLink.ticket_id), select(ArticleSource.ticket_id), suggested)


def uncovered_closed(session: Session, actor, *, since: timedelta, now: datetime | None = None,
                     limit: int = MAX_TICKETS) -> tuple[list[Ticket], bool]:
    now = now or utcnow()
    rows = list(session.scalars(
        select(Ticket).where(Ticket.status == CLOSED, Ticket.closed_at >= now - since,
                             Ticket.id.not_in(covered_ticket_ids()))
        .order_by(Ticket.closed_at.desc(), Ticket.id.desc()).limit(limit + 1)))
    truncated = len(rows) > limit
    return [t for t in rows[:limit] if permissions.can_draft_article(actor, t)], truncated


def _vectors(session: Session, tickets: list[Ticket], embedder) -> np.ndarray:
    """Stored vectors; the missing ones are encoded in one batch and stored."""
    rows = {r.ticket_id: r for r in session.scalars(select(TicketVector).where(
        TicketVector.ticket_id.in_([t.id for t in tickets]), TicketVector.model == embedder.name))}
    missing = [t for t in tickets if t.id not in rows]
    for row in ticket_similarity.store_vectors(session, missing, embedder):
        rows[row.ticket_id] = row
    return np.stack([np.frombuffer(rows[t.id].vector, dtype=np.float32) for t in tickets])


def cluster_vectors(vectors: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> list[list[int]]:
    """Groups of row indexes whose average pairwise cosine stays at or above ``threshold``:
    average-link agglomerative clustering, merging while the cosine distance is below
    ``1 - threshold``. The distances come from one matrix product of the normalised rows (a
    zero row is at distance 1 from everything) straight into scipy's linkage: 2,000 tickets
    cluster in about 0.4 s, against 1.2 s through pairwise distances (docs/benchmarks.md)."""
    n = len(vectors)
    if n < 2:
        return [[0]] if n else []
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    unit = np.asarray(vectors, dtype=np.float32)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    distances = 1.0 - squareform(unit @ unit.T, checks=False).astype(np.float64)  # the upper triangle
    np.clip(distances, 0.0, 2.0, out=distances)
    tree = linkage(distances, method="average")
    labels = fcluster(tree, t=np.nextafter(1.0 - threshold, 0.0), criterion="distance")  # strictly below
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(i)
    return list(groups.values())


def _people(session: Session, tickets: list[Ticket]) -> int:
    ids = {t.requester_id for t in tickets}
    ids |= set(session.scalars(select(TicketFollower.user_id)
                               .where(TicketFollower.ticket_id.in_([t.id for t in tickets]))))
    return len(ids)


def recurring_problems(session: Session, actor, *, embedder, since: timedelta, engine=None,
                       min_tickets: int = 2, threshold: float = CLUSTER_THRESHOLD,
                       now: datetime | None = None) -> BatchResult:
    """The recurring problems to write up, most people affected first.

    With ``engine``, each cluster also carries the existing article that covers it (the
    proposal is then an update); drafts are not written here (see :func:`propose`)."""
    permissions.require(permissions.can_draft_from_history(actor),
                        "Only the support agents who work tickets can draft articles from ticket history.")
    tickets, truncated = uncovered_closed(session, actor, since=since, now=now)
    result = BatchResult(candidates=len(tickets), truncated=truncated)
    if len(tickets) < max(min_tickets, 1):
        return result
    vectors = _vectors(session, tickets, embedder)
    for group in cluster_vectors(vectors, threshold):
        if len(group) < min_tickets:
            continue
        centre = vectors[group].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        closeness = vectors[group] @ centre
        order = [group[i] for i in np.argsort(-closeness, kind="stable")]
        members = [tickets[i] for i in order]
        cluster = Cluster(tickets=members, people=_people(session, members), cohesion=float(closeness.mean()),
                          latest_at=max(t.closed_at for t in members), draft_title=members[0].title)
        if engine is not None:
            draft = drafting.build_draft(session, members[:1], embedder=embedder)
            cluster.cover = find_cover(session, actor, engine, draft)
        result.clusters.append(cluster)
    result.clusters.sort(key=lambda c: (-c.people, -len(c.tickets), -c.latest_at.timestamp()))
    return result


def propose(session: Session, actor, tickets: list[Ticket], *, engine, embedder, new_article: bool = False):
    """One proposal for a cluster: ``("update", suggestion)`` when an article covers it (unless
    ``new_article``), else ``("draft", article)``: a draft citing every ticket."""
    return draft_or_update(session, actor, tickets, engine=engine, embedder=embedder, new_article=new_article)

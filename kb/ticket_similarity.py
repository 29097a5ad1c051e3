"""Similar tickets by embedding: the neighbours triage votes with, and the resolved tickets
an agent can learn from.

Vectors live in ``ticket_vector`` (float32 bytes, L2-normalised, tagged with the embedder's
name) and are compared with numpy in process: a dot product over a few thousand rows is
milliseconds, and it keeps the database portable. To bound memory and time, one scan
reads at most :data:`SCAN_LIMIT` vectors of the same model, the most recent tickets first
(highest ticket id); older tickets fall out of the neighbourhood. Past that size, an
approximate index (the search library's) would be the next step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import permissions
from kb.errors import NotFound
from kb.ticket_flow import CLOSED, RESOLVED
from kb.ticket_records import TicketVector
from kb.tickets import Ticket
from kb.triage.text import join_fields, normalize_text

SCAN_LIMIT = 20000  # most recent vectors read per query (see the module docstring)
_CHECK_BATCH = 50   # candidates loaded at a time while filtering by permission


def embedding_text(title: str | None, description: str | None = None) -> str:
    """The text a ticket is embedded from: suggestions for a draft and stored tickets agree."""
    return normalize_text(join_fields([title, description]))


class MemoEmbedder:
    """An embedder that remembers what it encoded, warmed with a new ticket's texts before the
    write transaction opens: on SQLite the write lock is held from a transaction's first
    statement, and encoding inside it made concurrent submissions queue behind each other
    (bench/load.py). Registration then encodes nothing more (triage and the stored vector
    use texts warmed here); a text it has not seen is encoded as usual."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.name, self.dim = embedder.name, embedder.dim
        self._memo: dict[str, np.ndarray] = {}

    @classmethod
    def warmed(cls, embedder, title: str, description: str) -> "MemoEmbedder | None":
        if embedder is None:
            return None
        memo = cls(embedder)
        title, description = (title or "").strip(), (description or "").strip()
        memo.encode([embedding_text(f"{title}\n{description}".strip()), embedding_text(title, description)])
        return memo

    def encode(self, texts) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vec in zip(missing, np.asarray(self._embedder.encode(missing), dtype=np.float32)):
                self._memo[text] = vec
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._memo[t] for t in texts])


def encode(embedder, text: str) -> np.ndarray:
    """One normalised float32 vector for ``text``."""
    vec = np.asarray(embedder.encode([text]), dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def store_vector(session: Session, ticket: Ticket, embedder) -> TicketVector:
    """Embed the ticket's title and description and keep it (replacing an older vector)."""
    return store_vectors(session, [ticket], embedder)[0]


def store_vectors(session: Session, tickets, embedder) -> list[TicketVector]:
    """The same for several tickets with one call of the embedder (it batches)."""
    texts = [embedding_text(t.title, t.description) for t in tickets]
    matrix = np.asarray(embedder.encode(texts), dtype=np.float32).reshape(len(texts), -1) if texts else []
    rows = []
    for ticket, vec in zip(tickets, matrix):
        norm = float(np.linalg.norm(vec))
        row = session.get(TicketVector, ticket.id)
        if row is None:
            row = TicketVector(ticket_id=ticket.id)
            session.add(row)
        row.model = embedder.name
        row.vector = (vec / norm if norm > 0 else vec).astype(np.float32).tobytes()
        rows.append(row)
    session.flush()
    return rows


def vector_of(session: Session, ticket: Ticket, embedder) -> np.ndarray:
    """The stored vector for this embedder, computed and stored now if missing or stale."""
    row = session.get(TicketVector, ticket.id)
    if row is None or row.model != embedder.name:
        row = store_vector(session, ticket, embedder)
    return np.frombuffer(row.vector, dtype=np.float32)


def _ranked(session: Session, vector, *, model: str, statuses: Iterable[str] | None = None,
            exclude_ticket_id: int | None = None, restrict_to=None) -> list[tuple[int, float]]:
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    stmt = (select(TicketVector.ticket_id, TicketVector.vector)
            .join(Ticket, Ticket.id == TicketVector.ticket_id)
            .where(TicketVector.model == model))
    if statuses is not None:
        stmt = stmt.where(Ticket.status.in_(list(statuses)))
    if exclude_ticket_id is not None:
        stmt = stmt.where(TicketVector.ticket_id != exclude_ticket_id)
    if restrict_to is not None:
        stmt = stmt.where(restrict_to)
    rows = session.execute(stmt.order_by(TicketVector.ticket_id.desc()).limit(SCAN_LIMIT)).all()
    rows = [(tid, blob) for tid, blob in rows if len(blob) == query.nbytes]  # another dimension: skip
    if not rows:
        return []
    ids = np.fromiter((tid for tid, _ in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32).reshape(len(rows), -1)
    scores = matrix @ query
    order = np.lexsort((-ids, -scores))  # best score first; on equal scores the newer ticket
    return [(int(ids[i]), float(scores[i])) for i in order]


def nearest(session: Session, vector, *, model: str, limit: int = 5, statuses: Iterable[str] | None = None,
            exclude_ticket_id: int | None = None, restrict_to=None) -> list[tuple[int, float]]:
    """``(ticket_id, cosine)`` of the ``limit`` most similar stored tickets, best first.

    ``model`` is the embedder's name (vectors of other models are not comparable);
    ``statuses`` keeps tickets in those statuses; ``restrict_to`` is an extra SQL condition
    on :class:`~kb.tickets.Ticket` (e.g. ``Ticket.category_id.is_not(None)``).
    """
    return _ranked(session, vector, model=model, statuses=statuses, exclude_ticket_id=exclude_ticket_id,
                   restrict_to=restrict_to)[:max(int(limit), 0)]


@dataclass(frozen=True)
class SimilarTicket:
    ticket: Ticket
    score: float
    resolution: str | None


def similar_resolved(session: Session, actor, ticket: Ticket, embedder, limit: int = 5) -> list[SimilarTicket]:
    """Resolved or closed tickets like this one that ``actor`` may see, with how they were solved.

    Permission is checked ticket by ticket (:func:`kb.permissions.can_view_ticket`), walking
    down the ranking until ``limit`` are found, so a restricted complaint never shows up for
    an agent and a requester only ever sees their own tickets.
    """
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    ranked = _ranked(session, vector_of(session, ticket, embedder), model=embedder.name,
                     statuses=(RESOLVED, CLOSED), exclude_ticket_id=ticket.id)
    found: list[SimilarTicket] = []
    for start in range(0, len(ranked), _CHECK_BATCH):
        batch = ranked[start:start + _CHECK_BATCH]
        rows = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_([i for i, _ in batch])))}
        for tid, score in batch:
            other = rows.get(tid)
            if other is not None and permissions.can_view_ticket(actor, other):
                found.append(SimilarTicket(other, score, other.resolution))
                if len(found) >= limit:
                    return found
    return found

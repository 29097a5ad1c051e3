"""Honest deflection: a "this solved my problem" counts only if it held.

A requester who files a ticket on the same problem within the window after a
deflected session turns that deflection into a failed one. Anonymous
deflections cannot be followed up, so the report lists them as unverifiable
instead of counting them as successes.

"Same problem" (``ProblemMatcher.match``), either of:

* ``similar_text``: cosine similarity of the deflected session's text and the
  ticket's text, with the search embedder, is at least ``SAME_PROBLEM_THRESHOLD``.
  0.55 was chosen on all-MiniLM-L6-v2: paraphrases of one problem scored
  0.61-0.80 ("my vpn cannot connect from home" / "VPN not connecting when
  working remotely" 0.78), neighbouring problems 0.36-0.59 ("vpn cannot
  connect" / "vpn keeps dropping every hour" 0.59, "outlook won't start" /
  "mailbox full" 0.43), unrelated ones below 0.2. The threshold sits low in the
  grey zone on purpose: a related problem reported days after "solved" more
  likely means the answer did not hold, and this metric should under-claim.
  Another model needs its own threshold (pass it to ProblemMatcher).
* ``same_article``: the deflecting article is among the top ``TOP_K``
  suggestions search gives for the ticket's text, and the similarity is at
  least ``ARTICLE_RULE_FLOOR`` (0.3). This settles the grey zone: a description
  worded differently that the knowledge base maps to the same answer ("cannot
  reach the intranet" / "Tunnel client error 809": 0.37). The floor is needed
  because search always ranks *something* first: in a small knowledge base the
  deflecting article is in the top 3 for unrelated text too (unrelated pairs
  score below 0.2 on MiniLM).

A ticket filed from the deflected session itself always fails it (``same_session``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Sequence

import numpy as np
from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from kb.db import count_if, utcnow
from kb.intake_models import ABANDONED, DEFLECTED, TICKET, DeflectionFailure, IntakeSession

SAME_PROBLEM_THRESHOLD = 0.55
ARTICLE_RULE_FLOOR = 0.3
TOP_K = 3


def text_similarity(embedder, a: str, b: str) -> float:
    """Cosine similarity; the embedder returns L2-normalised rows, so a dot product."""
    if not (a or "").strip() or not (b or "").strip():
        return 0.0
    rows = np.asarray(embedder.encode([a, b]), dtype=np.float32)
    return float(np.dot(rows[0], rows[1]))


def same_problem(embedder, a: str, b: str, threshold: float = SAME_PROBLEM_THRESHOLD) -> tuple[bool, float]:
    score = text_similarity(embedder, a, b)
    return score >= threshold, score


@dataclass
class ProblemMatcher:
    """``suggest(text)`` returns article ids ranked for a text (optional)."""

    embedder: object
    threshold: float = SAME_PROBLEM_THRESHOLD
    suggest: Callable[[str], Sequence[int]] | None = None
    top_k: int = TOP_K
    article_floor: float = ARTICLE_RULE_FLOOR

    def match(self, deflected_text: str, article_id: int | None, ticket_text: str) -> tuple[str | None, float]:
        """(rule that matched or None, text similarity)."""
        hit, score = same_problem(self.embedder, deflected_text, ticket_text, self.threshold)
        if hit:
            return "similar_text", score
        if self.suggest is not None and article_id is not None and score >= self.article_floor:
            if article_id in list(self.suggest(ticket_text))[: self.top_k]:
                return "same_article", score
        return None, score


def deflection_text(session: Session, intake: IntakeSession) -> str:
    """What the requester said when the article solved it: the latest query that showed
    the deflecting article (earlier ones are prefixes typed on the way), else the last one."""
    from kb.intake import last_impression

    if intake.deflected_article_id is not None:
        shown = last_impression(session, intake, intake.deflected_article_id)
        if shown is not None:
            return shown.query.text
    last = intake.last_query
    return last.text if last else ""


def fail_deflections(session: Session, ticket, matcher: ProblemMatcher | None, *, window_days: int,
                     now: datetime | None = None) -> list[DeflectionFailure]:
    """Record as failed every deflection by this requester that the new ticket contradicts."""
    now = now or utcnow()
    since = now - timedelta(days=window_days)
    same_user = and_(IntakeSession.user_id == ticket.requester_id, IntakeSession.outcome_at >= since,
                     IntakeSession.outcome_at <= now)
    own = IntakeSession.id == ticket.intake_session_id if ticket.intake_session_id else false()
    candidates = session.scalars(
        select(IntakeSession).outerjoin(DeflectionFailure)
        .where(IntakeSession.outcome == DEFLECTED, DeflectionFailure.id.is_(None), or_(own, same_user))
        .order_by(IntakeSession.outcome_at))
    failures = []
    for intake in candidates:
        if intake.id == ticket.intake_session_id:
            rule, score = "same_session", None
        elif matcher is None:
            continue
        else:
            rule, score = matcher.match(deflection_text(session, intake), intake.deflected_article_id, ticket.text)
            if rule is None:
                continue
        failure = DeflectionFailure(ticket_id=ticket.id, failed_at=now, rule=rule, similarity=score)
        intake.failure = failure
        failures.append(failure)
    session.flush()
    return failures


@dataclass(frozen=True)
class DeflectionStats:
    sessions: int
    open: int
    deflected: int
    confirmed: int        # logged in, window passed, no ticket on the same problem
    pending: int          # logged in, still within the window
    failed: int           # a ticket on the same problem followed
    unverifiable: int     # anonymous: nobody to follow up
    ticket_sessions: int  # sessions that ended in a ticket
    tickets: int          # all tickets filed in the period (any channel)
    abandoned: int
    window_days: int

    @property
    def decided(self) -> int:
        """Sessions that ended with a decision (abandoned and open ones say nothing)."""
        return self.deflected + self.ticket_sessions

    @property
    def honest_rate(self) -> float | None:
        """Confirmed deflections over decided sessions: pending and unverifiable ones are
        not successes yet, so this is a lower bound."""
        return self.confirmed / self.decided if self.decided else None

    @property
    def claimed_rate(self) -> float | None:
        """What a naive "solved" click count would report, for comparison."""
        return self.deflected / self.decided if self.decided else None

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out.update(decided=self.decided, honest_rate=self.honest_rate, claimed_rate=self.claimed_rate)
        return out


def deflection_stats(session: Session, since: datetime, until: datetime, *, window_days: int = 7,
                     now: datetime | None = None) -> DeflectionStats:
    """Counts for intake sessions started in [since, until) and tickets filed then, counted in
    the database in one statement (a year at 100,000 tickets is 60,000 sessions)."""
    from kb.tickets import Ticket

    now = now or utcnow()
    horizon = now - timedelta(days=window_days)
    outcome = IntakeSession.outcome
    deflected = outcome == DEFLECTED
    held = deflected & DeflectionFailure.id.is_(None)
    known = IntakeSession.user_id.is_not(None)
    row = session.execute(
        select(func.count(IntakeSession.id), count_if(outcome.is_(None)), count_if(deflected),
               count_if(held & known & (IntakeSession.outcome_at <= horizon)),
               count_if(held & known & (IntakeSession.outcome_at > horizon)),
               count_if(deflected & DeflectionFailure.id.is_not(None)), count_if(held & ~known),
               count_if(outcome == TICKET), count_if(outcome == ABANDONED))
        .outerjoin(DeflectionFailure, DeflectionFailure.session_id == IntakeSession.id)
        .where(IntakeSession.started_at >= since, IntakeSession.started_at < until)).one()
    names = ("sessions", "open", "deflected", "confirmed", "pending", "failed", "unverifiable", "ticket_sessions",
             "abandoned")
    tickets = session.scalar(select(func.count(Ticket.id)).where(Ticket.created_at >= since,
                                                                 Ticket.created_at < until)) or 0
    return DeflectionStats(tickets=tickets, window_days=window_days, **{k: int(v) for k, v in zip(names, row)})


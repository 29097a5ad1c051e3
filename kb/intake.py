"""Recording an intake session: queries at debounce points, impressions, opens, outcomes.

The portal decides which browser owns a token (it keeps the list in the
signed Flask session); here we only check that a session already tied to a
user is not written by anyone else, and keep the record consistent.
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, ValidationError
from kb.intake_models import (ABANDONED, DEFLECTED, TICKET, TOKEN_CHARS, IntakeImpression, IntakeOpen, IntakeQuery,
                              IntakeSession)

IDLE_BEFORE_ABANDONED = timedelta(minutes=30)
MAX_IMPRESSIONS = 50
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,%d}$" % TOKEN_CHARS)


def new_token() -> str:
    """Unguessable (256 bits); the page gets it, the DB row appears only on the first query."""
    return secrets.token_urlsafe(32)


def valid_token(token: str | None) -> bool:
    return bool(token) and bool(_TOKEN_RE.match(token))


def get_intake(session: Session, token: str | None) -> IntakeSession | None:
    if not valid_token(token):
        return None
    return session.scalar(select(IntakeSession).where(IntakeSession.token == token))


def require_writable(intake: IntakeSession, actor) -> None:
    """A session that belongs to a user is that user's alone (NotFound: no hint it exists)."""
    if intake.user_id is not None and (actor is None or actor.id != intake.user_id):
        raise NotFound("We could not find that help session.")


def _claim_and_touch(intake: IntakeSession, actor, now: datetime) -> None:
    if intake.user_id is None and actor is not None:
        intake.user_id = actor.id  # an anonymous visitor logged in: the session becomes followable
    if intake.outcome == ABANDONED:  # they came back: it was not abandoned after all
        intake.outcome = None
        intake.outcome_at = None
    intake.last_activity_at = now


def _get_or_create(session: Session, actor, token: str, now: datetime) -> IntakeSession:
    intake = get_intake(session, token)
    if intake is not None:
        return intake
    intake = IntakeSession(token=token, user_id=actor.id if actor is not None else None,
                           started_at=now, last_activity_at=now)
    try:
        with session.begin_nested():
            session.add(intake)
    except IntegrityError:  # the same token's first two queries raced; use the winner's row
        intake = get_intake(session, token)
        if intake is None:
            raise
    return intake


def _writable(session: Session, actor, token: str) -> IntakeSession:
    intake = get_intake(session, token)
    if intake is None:
        raise NotFound("We could not find that help session.")
    require_writable(intake, actor)
    return intake


def record_query(session: Session, actor, token: str, text: str, article_ids: Iterable[int], *,
                 now: datetime | None = None) -> IntakeSession | None:
    """Store ``text`` and the articles shown for it (in rank order). Returns the session, or
    None when nothing was recorded (empty text before any query, or a session that already
    ended deflected or in a ticket). A text equal to the previous one only refreshes the
    activity time."""
    if not valid_token(token):
        raise ValidationError("Invalid help-session token.", "intake")
    now = now or utcnow()
    text = (text or "").strip()
    if not text and get_intake(session, token) is None:
        return None
    intake = _get_or_create(session, actor, token, now)
    require_writable(intake, actor)
    if intake.outcome in (DEFLECTED, TICKET):
        return None
    _claim_and_touch(intake, actor, now)
    last = intake.last_query
    if text and (last is None or last.text != text):
        query = IntakeQuery(seq=(last.seq + 1) if last else 1, text=text, created_at=now)
        seen: set[int] = set()
        for article_id in article_ids:
            if article_id in seen or len(seen) >= MAX_IMPRESSIONS:
                continue
            seen.add(article_id)
            query.impressions.append(IntakeImpression(article_id=article_id, rank=len(seen)))
        intake.queries.append(query)
    session.flush()
    return intake


def last_suggestions(session: Session, intake: IntakeSession, limit: int = 3) -> list[tuple[str, str]]:
    """``(title, path)`` of the public articles shown for the session's last query, best first."""
    from kb.articles_models import Article

    last = intake.last_query
    if last is None:
        return []
    rows = session.execute(
        select(Article.id, Article.title).join(IntakeImpression, IntakeImpression.article_id == Article.id)
        .where(IntakeImpression.query_id == last.id, Article.status == "published", Article.audience == "public")
        .order_by(IntakeImpression.rank).limit(limit))
    return [(title, f"/kb/{article_id}") for article_id, title in rows]


def last_impression(session: Session, intake: IntakeSession, article_id: int) -> IntakeImpression | None:
    """Where the article was most recently shown in this session, if at all."""
    return session.scalar(
        select(IntakeImpression).join(IntakeQuery)
        .where(IntakeQuery.session_id == intake.id, IntakeImpression.article_id == article_id)
        .order_by(IntakeQuery.seq.desc()).limit(1))


def record_open(session: Session, actor, token: str, article_id: int, *,
                now: datetime | None = None) -> IntakeOpen:
    """The requester opened a suggestion; only articles shown in this session count."""
    now = now or utcnow()
    intake = _writable(session, actor, token)
    shown = last_impression(session, intake, article_id)
    if shown is None:
        raise NotFound("That article was not suggested in this help session.")
    if intake.outcome not in (DEFLECTED, TICKET):
        _claim_and_touch(intake, actor, now)
    opened = IntakeOpen(article_id=article_id, query_id=shown.query_id, rank=shown.rank, opened_at=now)
    intake.opens.append(opened)
    session.flush()
    return opened


def mark_deflected(session: Session, actor, token: str, article_id: int, *,
                   now: datetime | None = None) -> IntakeSession:
    """"This solved my problem": end the session, credited to an article it suggested."""
    now = now or utcnow()
    intake = _writable(session, actor, token)
    if intake.outcome == DEFLECTED and intake.deflected_article_id == article_id:
        return intake  # a double click
    if intake.outcome in (DEFLECTED, TICKET):
        raise InvalidTransition("This help session has already ended.")
    if last_impression(session, intake, article_id) is None:
        raise NotFound("That article was not suggested in this help session.")
    _claim_and_touch(intake, actor, now)
    intake.outcome = DEFLECTED
    intake.outcome_at = now
    intake.deflected_article_id = article_id
    session.flush()
    return intake


def record_ticket_filed(session: Session, intake: IntakeSession, ticket, *, now: datetime | None = None) -> None:
    """Called by kb.tickets.create_ticket. A session already marked deflected keeps that
    outcome; kb.deflection then records the deflection as failed (rule "same_session")."""
    now = now or utcnow()
    if intake.user_id is None:
        intake.user_id = ticket.requester_id
    intake.last_activity_at = now
    if intake.outcome in (None, ABANDONED):
        intake.outcome = TICKET
        intake.outcome_at = now
    session.flush()


def sweep_abandoned(session: Session, now: datetime | None = None, *,
                    idle: timedelta = IDLE_BEFORE_ABANDONED) -> int:
    """Mark sessions with no outcome ``idle`` after their last activity as abandoned.

    The outcome time is when the session went idle plus ``idle`` (when it became
    abandoned), not when the sweep ran, so results do not depend on the sweep schedule.
    Safe to run twice. Returns the number of sessions marked."""
    now = now or utcnow()
    rows = session.scalars(select(IntakeSession).where(IntakeSession.outcome.is_(None),
                                                       IntakeSession.last_activity_at <= now - idle))
    n = 0
    for intake in rows:
        intake.outcome = ABANDONED
        intake.outcome_at = intake.last_activity_at + idle
        n += 1
    session.flush()
    return n

""""Was this helpful?" votes: one per voter per article, and changeable.

A voter is a key, not a user: "user:<id>" for people who are logged in and
"anon:<random>" for a browser session, so anonymous requesters can vote too
without an account (the portal keeps the random part in the session cookie).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb.articles_models import Article, ArticleVote
from kb.db import utcnow
from kb.errors import ValidationError


@dataclass(frozen=True)
class VoteCounts:
    helpful: int = 0
    not_helpful: int = 0

    @property
    def total(self) -> int:
        return self.helpful + self.not_helpful

    @property
    def percent_helpful(self) -> int | None:
        return round(100 * self.helpful / self.total) if self.total else None


def _check_key(voter_key: str) -> str:
    key = (voter_key or "").strip()
    if not key or len(key) > 80:
        raise ValidationError("A vote needs a voter key of 1 to 80 characters.", "voter_key")
    return key


def get_vote(session: Session, voter_key: str, article: Article) -> ArticleVote | None:
    return session.scalar(select(ArticleVote).where(ArticleVote.article_id == article.id,
                                                    ArticleVote.voter_key == voter_key))


def vote_article(session: Session, voter_key: str, article: Article, helpful: bool) -> ArticleVote:
    """Record or change this voter's vote. Only published articles take votes.

    The caller has checked the voter may see the article (``get_article``).
    A concurrent first vote by the same voter hits the unique constraint; the
    savepoint absorbs it and the existing row is updated instead.
    """
    key = _check_key(voter_key)
    if article.status != "published":
        raise ValidationError("Only published articles can be rated.", "helpful")
    vote = get_vote(session, key, article)
    if vote is None:
        try:
            with session.begin_nested():
                vote = ArticleVote(article_id=article.id, voter_key=key, helpful=bool(helpful))
                session.add(vote)
        except IntegrityError:
            vote = get_vote(session, key, article)
    vote.helpful = bool(helpful)
    vote.created_at = utcnow()
    session.flush()
    return vote


def vote_counts(session: Session, article: Article) -> VoteCounts:
    rows = dict(session.execute(select(ArticleVote.helpful, func.count(ArticleVote.id))
                                .where(ArticleVote.article_id == article.id).group_by(ArticleVote.helpful)).all())
    return VoteCounts(helpful=rows.get(True, 0), not_helpful=rows.get(False, 0))

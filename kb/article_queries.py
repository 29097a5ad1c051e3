"""Browsing articles: the pages of lists, counts per category and the review queue.

Part of the article services (re-exported by ``kb.articles``); read-only.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from kb import permissions
from kb.articles_models import STATUSES, Article
from kb.errors import NotFound, ValidationError
from kb.pagination import Paged
from kb.taxonomy import get_category


@dataclass
class Page(Paged):
    """One page of results, shaped like Flask-SQLAlchemy's pagination (the ``pager`` macro reads it)."""

    items: list
    page: int
    per_page: int
    total: int


def _visible(stmt, actor, status: str | None):
    """Browsing shows published articles; staff may ask for another status or "all"."""
    if not permissions.is_staff(actor) or status in (None, "", "published"):
        stmt = stmt.where(Article.status == "published")
    elif status != "all":
        if status not in STATUSES:
            raise ValidationError(f"Unknown status {status!r}.", "status")
        stmt = stmt.where(Article.status == status)
    return stmt.where(Article.audience.in_(permissions.visible_audiences(actor)))


def list_articles(session: Session, actor, *, category: str | None = None, status: str | None = None,
                  page: int = 1, per_page: int = 20, order: str = "updated") -> Page:
    """Articles this actor may browse, newest change first (or ``order="views"``)."""
    stmt = _visible(select(Article), actor, status)
    if category:
        cat = get_category(session, category)
        if cat is None:
            raise NotFound("We could not find that category.")
        stmt = stmt.where((Article.subcategory_id if cat.parent_id else Article.category_id) == cat.id)
    page, per_page = max(int(page or 1), 1), min(max(int(per_page or 20), 1), 100)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    sort = (Article.view_count.desc(), Article.id.desc()) if order == "views" else (Article.updated_at.desc(),
                                                                                    Article.id.desc())
    items = list(session.scalars(stmt.options(selectinload(Article.category), selectinload(Article.subcategory),
                                              selectinload(Article.tags))
                                 .order_by(*sort).offset((page - 1) * per_page).limit(per_page)))
    return Page(items=items, page=page, per_page=per_page, total=total)


def category_counts(session: Session, actor) -> dict[int, int]:
    """Published articles this actor may see, per category id (top categories and subcategories)."""
    counts: dict[int, int] = {}
    for column in (Article.category_id, Article.subcategory_id):
        stmt = _visible(select(column, func.count(Article.id)), actor, None).group_by(column)
        for cat_id, n in session.execute(stmt):
            if cat_id is not None:
                counts[cat_id] = counts.get(cat_id, 0) + n
    return counts


def review_queue(session: Session, actor) -> list[Article]:
    """Articles waiting for review, oldest first (reviewers only)."""
    permissions.require(permissions.can_review_article(actor), "Only team leads and admins review articles.")
    return list(session.scalars(select(Article).where(Article.status == "in_review")
                                .options(selectinload(Article.category), selectinload(Article.revisions))
                                .order_by(Article.updated_at, Article.id)))

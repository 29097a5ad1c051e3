"""Finding articles for a person: search, then load rows in rank order and drop what they may not open."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kb import markdown, permissions
from kb.articles_models import Article
from kb.indexing import article_id_of, doc_id
from search import SearchEngine, highlight

MAX_QUERY_CHARS = 1000


@dataclass(frozen=True)
class Suggestion:
    article: Article
    rank: int
    score: float
    snippet: str  # HTML-escaped, with <mark> around matched words

    def as_json(self, locale: str | None = None) -> dict:
        a = self.article
        return {
            "id": a.id,
            "title": a.title,
            "snippet": self.snippet,
            "category": a.category.label(locale) if a.category else "",
            "subcategory": a.subcategory.label(locale) if a.subcategory else "",
            "audience": a.audience,
            "rank": self.rank,
        }


def clean_query(text: str | None, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Normalise and cap a typed query: NFKC, no control characters, collapsed spaces."""
    text = unicodedata.normalize("NFKC", (text or "")[: max_chars * 2])
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:max_chars]


def _visible_in_order(session: Session, actor, ids: list[int]) -> list[Article]:
    if not ids:
        return []
    # Many-to-one: joined into the same SELECT (one query on the suggestion hot path, not three).
    rows = session.scalars(select(Article).where(Article.id.in_(ids))
                           .options(joinedload(Article.category), joinedload(Article.subcategory)))
    by_id = {a.id: a for a in rows}
    return [by_id[i] for i in ids if i in by_id and permissions.can_view_article(actor, by_id[i])]


def search_articles(session: Session, actor, engine: SearchEngine, text: str | None, *, limit: int = 5,
                    category: str | None = None, mode: str = "hybrid",
                    max_chars: int = MAX_QUERY_CHARS) -> list[Suggestion]:
    """Ranked articles this actor may open. The permission check runs twice: as a
    search filter (so the ranking is not wasted on hidden rows) and on the loaded rows."""
    query = clean_query(text, max_chars)
    if not query:
        return []
    filters = permissions.article_search_filters(actor)
    if category:
        filters["category"] = {category}
    hits = engine.query(query, filters=filters, limit=limit, mode=mode)
    by_doc = {h.id: h for h in hits}
    ids = [n for n in (article_id_of(h.id) for h in hits) if n is not None]
    out = []
    for rank, article in enumerate(_visible_in_order(session, actor, ids), start=1):
        hit = by_doc[doc_id(article.id)]
        source = hit.passage if hit.passage else markdown.to_text(article.body)
        out.append(Suggestion(article=article, rank=rank, score=hit.score,
                              snippet=highlight(markdown.to_text(source), query)))
    return out


def related_articles(session: Session, actor, engine: SearchEngine, article: Article, *, limit: int = 5) -> list[Article]:
    """Semantic neighbours of an article that this actor may open."""
    hits = engine.similar(doc_id(article.id), filters=permissions.article_search_filters(actor), limit=limit)
    ids = [n for n in (article_id_of(h.id) for h in hits) if n is not None and n != article.id]
    return _visible_in_order(session, actor, ids)

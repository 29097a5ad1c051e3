"""Keyword side: Whoosh schema, document writing and safe query building.

User text is never given to Whoosh's QueryParser: it is analysed into terms
(see :mod:`search.analysis`), at most ``max_terms`` distinct terms are kept
(rarest first, by document frequency: a 40-word ticket description becomes a
short, discriminative OR query instead of a slow 40-term one) and the query is
built from Term objects. Quotes, ``AND``, ``field:``, ``*`` are therefore just
characters, and their meaning cannot change.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Collection, Iterable, Mapping

from whoosh import index as whoosh_index
from whoosh import scoring
from whoosh.fields import ID, TEXT, Schema
from whoosh.query import And, Or, Term

from .analysis import analyzer, terms
from .types import Document

FIELD_BOOSTS = {"title": 2.0, "tags": 1.5, "body": 1.0}
_SAFE_FACET = re.compile(r"^[A-Za-z0-9_]{1,40}$")


def facet_field(name: str) -> str:
    """Whoosh field name for a facet; odd names are hex-encoded to stay valid."""
    return f"f_{name}" if _SAFE_FACET.match(name) else "fx_" + name.encode("utf-8").hex()


def make_schema() -> Schema:
    schema = Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(analyzer=analyzer(), phrase=False),
        body=TEXT(analyzer=analyzer(), phrase=False),
        tags=TEXT(analyzer=analyzer(), phrase=False),
    )
    schema.add("f_*", ID(), glob=True)
    schema.add("fx_*", ID(), glob=True)
    return schema


def weighting() -> scoring.WeightingModel:
    # Titles are short, so normalise their length less than bodies.
    return scoring.BM25F(B=0.75, K1=1.2, title_B=0.5, tags_B=0.3)


def open_or_create(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    if whoosh_index.exists_in(str(folder)):
        return whoosh_index.open_dir(str(folder))
    return whoosh_index.create_in(str(folder), make_schema())


def write(ix, upserts: Iterable[Document], deletes: Iterable[str] = ()) -> None:
    """Apply upserts and deletes in one atomic Whoosh commit."""
    writer = ix.writer(timeout=30.0)
    try:
        for doc_id in deletes:
            writer.delete_by_term("id", doc_id)
        for doc in upserts:
            values = {"id": doc.id, "title": doc.title or "", "body": doc.body or "",
                      "tags": " ".join(doc.tags)}
            for name, value in doc.fields.items():
                values[facet_field(str(name))] = str(value)
            writer.update_document(**values)
    except BaseException:
        writer.cancel()
        raise
    writer.commit()


def select_terms(reader, text: str, max_terms: int) -> list[str]:
    """Up to ``max_terms`` distinct terms that occur in the index, rarest first."""
    seen: dict[str, int] = {}
    for term in terms(text):
        if term not in seen:
            seen[term] = sum(reader.doc_frequency(f, term) for f in FIELD_BOOSTS)
    present = [(df, i, t) for i, (t, df) in enumerate(seen.items()) if df > 0]
    return [t for _, _, t in sorted(present)[:max_terms]]


def build_query(reader, text: str, max_terms: int):
    chosen = select_terms(reader, text, max_terms)
    if not chosen:
        return None
    return Or([Term(f, t, boost=b) for t in chosen for f, b in FIELD_BOOSTS.items()])


def build_filter(filters: Mapping[str, Collection[str]] | None):
    """Whoosh filter for facets; ``False`` when a facet allows no value at all."""
    if not filters:
        return None
    parts = []
    for name, allowed in filters.items():
        if not allowed:
            return False
        parts.append(Or([Term(facet_field(name), str(v)) for v in sorted(allowed)]))
    return And(parts)


FILTER_CACHE_SIZE = 64


def _filter_docs(searcher, filters, cache: dict | None):
    """The doc numbers a facet filter allows. Whoosh would re-run the filter query on every
    search; the few distinct filters (per role, per category) are cached for the searcher's life."""
    fq = build_filter(filters)
    if fq is None or fq is False or cache is None:
        return fq
    key = tuple(sorted((name, tuple(sorted(map(str, allowed)))) for name, allowed in filters.items()))
    docs = cache.get(key)
    if docs is None:
        if len(cache) >= FILTER_CACHE_SIZE:
            cache.clear()
        docs = cache[key] = set(searcher.docs_for_query(fq))  # Whoosh takes a set (not frozenset)
    return docs or False  # Whoosh reads an empty set as "no filter"; nothing is allowed


def search(searcher, text: str, *, max_terms: int, limit: int,
           filters: Mapping[str, Collection[str]] | None = None,
           filter_cache: dict | None = None) -> list[tuple[str, float]]:
    """Ranked (doc id, BM25F score) for ``text``; [] when no term can match."""
    fq = _filter_docs(searcher, filters, filter_cache)
    if fq is False:
        return []
    q = build_query(searcher.reader(), text, max_terms)
    if q is None:
        return []
    results = searcher.search(q, limit=limit, filter=fq, terms=False)
    return [(searcher.stored_fields(docnum)["id"], float(score))
            for score, docnum in results.top_n]

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
from whoosh.query import And, AndMaybe, Or, Term

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


# A term in more documents than this is "common" (Lucene's CommonTermsQuery idea): its long
# posting list is what makes an OR query slow, and its low IDF adds little to the ranking.
# Common terms then only add to the scores of documents the rare terms found. Below this
# many documents nothing counts as common, so small knowledge bases rank exactly as before.
COMMON_MIN_DOCS = 500
COMMON_SHARE = 0.05


def _document_frequencies(reader, text: str) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    for term in terms(text):
        if term not in seen:
            seen[term] = sum(reader.doc_frequency(f, term) for f in FIELD_BOOSTS)
    present = [(df, i, t) for i, (t, df) in enumerate(seen.items()) if df > 0]
    return [(df, t) for df, _, t in sorted(present)]


def select_terms(reader, text: str, max_terms: int) -> list[str]:
    """Up to ``max_terms`` distinct terms that occur in the index, rarest first."""
    return [t for _, t in _document_frequencies(reader, text)[:max_terms]]


class _UnionOr(Or):
    """Or evaluated as a tree of union matchers, which skip blocks that cannot reach the top N.

    Whoosh's automatic choice preloads every posting into arrays for these queries:
    on 10,000 articles that was slower (p50 26 ms vs 15 ms) and missed higher-scoring
    documents for a quarter of the queries; stackfaq's nDCG is the same either way.
    """
    matcher_type = Or.DEFAULT_MATCHER


def _any_field(chosen: list[str]):
    return _UnionOr([Term(f, t, boost=b) for t in chosen for f, b in FIELD_BOOSTS.items()])


def build_query(reader, text: str, max_terms: int):
    """OR of the rarest terms; common terms (if any rare ones exist) only boost, via AndMaybe."""
    chosen = _document_frequencies(reader, text)[:max_terms]
    if not chosen:
        return None
    cutoff = max(COMMON_MIN_DOCS, COMMON_SHARE * reader.doc_count())
    rare = [t for df, t in chosen if df <= cutoff]
    common = [t for df, t in chosen if df > cutoff]
    if not rare or not common:
        return _any_field([t for _, t in chosen])
    return AndMaybe(_any_field(rare), _any_field(common))


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

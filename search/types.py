"""Value types shared by every part of the search library.

They are deliberately plain frozen dataclasses so the portal can build them from
ORM rows without the library ever importing the ORM, and so they are safe to
share between threads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Document:
    """One searchable item (an article, a FAQ entry...).

    ``fields`` are exact-match facets used by filters (audience, status...);
    ``version`` is an opaque content hash the caller compares with
    :meth:`SearchEngine.versions` to find documents that drifted.
    """

    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True)
class Hit:
    """One ranked result; ranks say which ranker(s) found it, for debugging."""

    id: str
    score: float
    keyword_rank: int | None
    semantic_rank: int | None
    passage: str | None


@dataclass(frozen=True)
class SearchConfig:
    """Tuning knobs. Defaults were measured on stackfaq (see docs/search.md)."""

    max_query_chars: int = 1000
    max_query_terms: int = 8
    rrf_k: int = 60
    keyword_weight: float = 0.25       # keyword boosts exact terms; see fusion.py
    semantic_weight: float = 1.0
    candidates: int = 20               # per-ranker depth before fusion: 20, 50 and 100 scored the same on stackfaq
    chunk_words: int = 120
    chunk_overlap: int = 30
    ann_threshold: int = 20000
    fusion: str = "relative"           # "relative" (normalised scores) or "rrf"


class IndexMismatchError(RuntimeError):
    """The index on disk was built with another schema or embedder."""


class QueryError(ValueError):
    """Invalid *arguments* (bad mode, bad limit). Never raised for user text."""


REINDEX_HINT = "run `flask search reindex`"

"""Fusion of the keyword and semantic lists.

Two methods (``SearchConfig.fusion``):

* ``"relative"`` (default): each list's scores are min-max normalised to
  [0, 1] within the query, then combined as a weighted mean
  ``(w_k * kw + w_s * sem) / (w_k + w_s)``; a document missing from a list
  gets 0 there. Unlike RRF it keeps *how much* better the top result is, so a
  confident ranker is not outvoted by the other ranker's weak ordering. This is
  the "relative score fusion"/convex combination that Bruch et al. (2023,
  "An Analysis of Fusion Functions for Hybrid Retrieval") found more accurate
  than RRF, and Weaviate's default hybrid mode.
* ``"rrf"``: weighted reciprocal-rank fusion
  ``score(d) = sum_i w_i / (k + rank_i(d))`` with 1-based ranks.

Measurements on stackfaq are in docs/search.md.
"""
from __future__ import annotations

from typing import Sequence


def rrf(rankings: Sequence[tuple[Sequence[str], float]], k: int = 60) -> dict[str, float]:
    """Fuse ranked id lists, each with a weight; returns id -> fused score."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        if weight == 0:
            continue
        for rank, doc_id in enumerate(ids, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    return scores


def relative_score(lists: Sequence[tuple[Sequence[tuple[str, float]], float]]) -> dict[str, float]:
    """Weighted mean of per-list min-max normalised scores; id -> fused score."""
    total = sum(w for _, w in lists if w > 0) or 1.0
    scores: dict[str, float] = {}
    for items, weight in lists:
        if weight <= 0 or not items:
            continue
        values = [s for _, s in items]
        lo, hi = min(values), max(values)
        span = hi - lo
        for doc_id, s in items:
            norm = (s - lo) / span if span > 0 else 1.0
            scores[doc_id] = scores.get(doc_id, 0.0) + weight * norm / total
    return scores


def ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    """Sort fused scores best first; ties broken by id for determinism."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse(config, lexical: Sequence[tuple[str, float]],
         semantic: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """The hybrid ranking of two (id, score) lists by ``config.fusion`` (a SearchConfig)."""
    if config.fusion == "rrf":
        return ranked(rrf([([i for i, _ in lexical], config.keyword_weight),
                           ([i for i, _ in semantic], config.semantic_weight)], config.rrf_k))
    return ranked(relative_score([(lexical, config.keyword_weight), (semantic, config.semantic_weight)]))

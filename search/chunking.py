"""Split long bodies into overlapping windows for embedding.

MiniLM reads at most 256 word pieces, so embedding a whole article silently
drops its end (where the fix usually is). We embed overlapping windows of
about ``chunk_words`` words, each prefixed with the title so the chunk keeps its
topic, and score a document by its best chunk.

Length is measured in "words": a whitespace-separated token counts 1, a CJK
character counts 0.5 (roughly one Chinese word per two characters). Long
unspaced CJK runs are cut at sentence punctuation (。！？；), and failing that,
every ``chunk_words`` characters, so Chinese text is chunked too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .analysis import CJK_RANGES

_CJK_CHAR = re.compile(rf"[{CJK_RANGES}]")
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_NOISE = re.compile(r"(^|\n)\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+|`{3}[^\n]*|[*_`]{1,3}(?=\S)|(?<=\S)[*_`]{1,3}")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class _Unit:
    text: str
    weight: float
    glue: str  # separator placed before this unit when re-joining


def plain_text(markdown: str) -> str:
    """Drop the Markdown syntax and URLs that only add noise to an embedding."""
    text = _MD_LINK.sub(r"\1", markdown)
    text = _URL.sub(" ", text)
    return _MD_NOISE.sub(lambda m: m.group(1) or "", text)


def _weight(token: str) -> float:
    cjk = len(_CJK_CHAR.findall(token))
    return 0.5 * cjk + (1.0 if cjk < len(token) else 0.0)


def _units(text: str, max_weight: float) -> list[_Unit]:
    units: list[_Unit] = []
    for token in text.split():
        w = _weight(token)
        if w <= max_weight / 2:
            units.append(_Unit(token, w, " "))
            continue
        glue = " "
        step = max(1, int(max_weight))  # chars; about half a window of CJK text
        for sentence in filter(None, _SENTENCE_END.split(token)):
            pieces = [sentence]
            if _weight(sentence) > max_weight / 2:
                pieces = [sentence[i:i + step] for i in range(0, len(sentence), step)]
            for piece in pieces:
                units.append(_Unit(piece, _weight(piece), glue))
                glue = ""
    return units


def chunk_text(text: str, chunk_words: int = 120, overlap: int = 30) -> list[str]:
    """Overlapping windows of about ``chunk_words`` words; [] for blank text."""
    chunk_words = max(1, chunk_words)
    overlap = min(max(0, overlap), chunk_words // 2)
    units = _units(text, chunk_words)
    chunks: list[str] = []
    start = 0
    while start < len(units):
        end, total = start, 0.0
        while end < len(units) and (total < chunk_words or end == start):
            total += units[end].weight
            end += 1
        chunks.append("".join((u.glue if i else "") + u.text
                              for i, u in enumerate(units[start:end])))
        if end >= len(units):
            break
        # Next window starts ``overlap`` words before this one ended.
        back, nxt = 0.0, end
        while nxt > start + 1 and back + units[nxt - 1].weight <= overlap:
            nxt -= 1
            back += units[nxt].weight
        start = nxt
    return chunks


def document_chunks(title: str, body: str, tags=(), chunk_words: int = 120,
                    overlap: int = 30) -> list[tuple[str, str]]:
    """(text to embed, passage to show) for each window of one document.

    The title (+tags) is prepended to the embedded text so each chunk keeps its
    context, but it is not part of the passage a snippet is cut from (the page
    shows the title already). Always returns at least one entry, so every
    document has a vector.
    """
    head = title.strip()
    if tags:
        head = f"{head} ({', '.join(tags)})" if head else ", ".join(tags)
    windows = chunk_text(plain_text(body), chunk_words, overlap)
    if not windows:
        return [(head or " ", "")]
    return [(f"{head}. {w}" if head else w, w) for w in windows]

"""HTML snippets with matched words marked.

Uses the indexing analyzer on both sides, so "printers" in the text is marked
for the query "printer", and Chinese words found by jieba are marked for a
Chinese query. Every piece of text is escaped: article text is user content
and may contain markup.
"""
from __future__ import annotations

from html import escape

from .analysis import tokens


def _spans(text: str, query: str) -> list[tuple[int, int]]:
    wanted = {t for t, _, _ in tokens(query)}
    if not wanted:
        return []
    spans = sorted((s, e) for t, s, e in tokens(text) if t in wanted)
    merged: list[tuple[int, int]] = []
    for s, e in spans:  # jieba search mode yields overlapping words
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _window(text: str, spans: list[tuple[int, int]], width: int) -> tuple[int, int]:
    """Start/end of the ``width``-char window holding the most matches."""
    best_i, best_n, j = 0, 0, 0
    for i, (s, _) in enumerate(spans):
        while j < len(spans) and spans[j][1] <= s + width:
            j += 1
        if j - i > best_n:
            best_i, best_n = i, j - i
    first = spans[best_i][0]
    last = spans[best_i + best_n - 1][1]
    start = max(0, first - max(0, (width - (last - first)) // 3))
    end = min(len(text), max(start + width, last))
    if end == len(text):
        start = max(0, end - width)
    # Snap to whitespace so words are not cut (when there is any nearby).
    if start > 0:
        sp = text.rfind(" ", max(0, start - 20), start)
        start = sp + 1 if sp != -1 else start
    if end < len(text):
        sp = text.find(" ", end, end + 20)
        end = sp if sp != -1 else end
    return start, end


def highlight(text: str, query: str, *, width: int = 200) -> str:
    """Escaped snippet of about ``width`` chars around the densest matches."""
    text = text or ""
    width = max(20, int(width))
    spans = _spans(text, (query or "")[:1000])
    if not spans:
        cut = text[:width]
        return escape(cut) + ("…" if len(text) > width else "")
    start, end = _window(text, spans, width)
    out, pos = [], start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(escape(text[pos:s]))
        out.append(f"<mark>{escape(text[s:e])}</mark>")
        pos = e
    out.append(escape(text[pos:end]))
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(text) else "")

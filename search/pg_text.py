"""Text preparation for PostgreSQL full-text search.

PostgreSQL's parser splits Latin text and a text search configuration ("english") stems it and
drops its stop words; we leave that to PostgreSQL, so the configuration is a real, language-aware
choice of the deployment. What PostgreSQL cannot do is segment Chinese: a run of Han characters
is one "word" to its parser. So before text reaches ``to_tsvector`` (documents) or the lexeme
lookup (queries), every CJK run is replaced by its jieba words (search mode, the same
segmentation and stop words as the local backend, see :mod:`search.analysis`), separated by
spaces. Everything else passes through unchanged.

Queries are never parsed by ``to_tsquery``: the lexemes PostgreSQL produces for the user's
text are looked up in the term table, the rarest few kept, and the tsquery is written from
them with every lexeme quoted, so operators in user text (``&``, ``!``, ``:*``) are just
characters.
"""
from __future__ import annotations

from .analysis import CJK_STOP_WORDS, _TOKEN_RE, _get_jieba

# PostgreSQL refuses a tsvector over 1 MB and words over 2 KB; a body is cut well before that.
MAX_FIELD_CHARS = 200_000


def clean(text: str | None) -> str:
    """Text PostgreSQL accepts: no NUL characters, no lone surrogates (they cannot be UTF-8)."""
    if not text:
        return ""
    text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def segment(text: str | None) -> str:
    """``text`` with each CJK run replaced by its space-separated jieba words."""
    if not text:
        return ""
    text = clean(text[:MAX_FIELD_CHARS])
    out: list[str] = []
    last = 0
    for m in _TOKEN_RE.finditer(text):
        if not m.group(1):
            continue
        out.append(text[last:m.start()])
        words = [w.strip() for w, _s, _e in _get_jieba().tokenize(m.group(1), mode="search")]
        out.append(" " + " ".join(w for w in words if w and w not in CJK_STOP_WORDS) + " ")
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def quote_lexeme(lexeme: str) -> str:
    """A lexeme as a quoted tsquery operand (``'it''s'``): its characters have no meaning."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"

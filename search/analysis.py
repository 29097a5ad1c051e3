"""Text analysis shared by indexing, query building, hashing and highlighting.

One function, :func:`tokens`, turns text into (term, start, end) triples:
Latin/other-script words are lowercased, stop-worded and stemmed (Snowball English); runs of
CJK characters are segmented with jieba's search mode (overlapping words, so
"打印机" yields both "打印" and "打印机"). Using the same function everywhere is
what makes a Chinese query match a Chinese title and makes highlighting mark
exactly the words the ranker matched.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterator

from whoosh.analysis import Token, Tokenizer
from whoosh.analysis.filters import STOP_WORDS
from functools import lru_cache

from whoosh.lang.porter2 import stem as _porter2

CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A CJK run, or a run of word characters that are neither "_" nor CJK.
_TOKEN_RE = re.compile(rf"([{CJK_RANGES}]+)|([^\W_{CJK_RANGES}]+)")
_CJK_RE = re.compile(rf"[{CJK_RANGES}]")
MAX_TOKEN_CHARS = 60  # longer "words" are junk (hashes, base64) and bloat the index

_jieba_lock = threading.Lock()
_jieba = None


def _get_jieba():
    """Import and initialise jieba once, quietly (it logs and builds a cache)."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


@lru_cache(maxsize=200_000)  # bounded; stemming dominates indexing cost otherwise
def stem(word: str) -> str:
    """Snowball English stemmer (Whoosh's older porter leaves "jammed" as "jamm")."""
    return _porter2(word)


def is_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text))


# Chinese function words and question phrases: they occur everywhere, carry no topic, and
# would otherwise be highlighted and scored ("打印机又卡纸了怎么办" is about 打印机 and 卡纸).
CJK_STOP_WORDS = frozenset("""
的 了 是 在 我 你 他 她 它 我们 你们 他们 们 有 和 与 及 或 就 都 也 很 又 还 再 吗 呢 吧 啊 呀 哦
么 这 那 这个 那个 这样 那样 一个 一下 一些 什么 怎么 怎么办 怎样 如何 为什么 请 请问 把 被 让 给
从 对 到 向 而 但 但是 因为 所以 如果 可以 能 会 要 想 需要 没 没有 不 不是 着 过 之 为 以 等
""".split())


def tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (term, start_char, end_char) for every indexable token of ``text``."""
    if not text:
        return
    for m in _TOKEN_RE.finditer(text):
        if m.group(1):
            base = m.start()
            seen = set()
            for word, start, end in _get_jieba().tokenize(m.group(1), mode="search"):
                word = word.strip()
                if word and word not in CJK_STOP_WORDS and (word, start) not in seen:
                    seen.add((word, start))
                    yield word, base + start, base + end
        else:
            word = m.group(2).lower()
            if len(word) > MAX_TOKEN_CHARS or word in STOP_WORDS:
                continue
            yield stem(word), m.start(), m.end()


def terms(text: str) -> list[str]:
    """Analysed terms of ``text`` in order (duplicates kept)."""
    return [t for t, _, _ in tokens(text)]


class HelpdeskTokenizer(Tokenizer):
    """Whoosh tokenizer wrapping :func:`tokens` (it is the whole analyzer).

    It lives in this module so the pickled Whoosh schema refers to it by a
    stable import path; changing its behaviour requires bumping the schema
    version in :mod:`search.generations`.
    """

    def __eq__(self, other):
        return other.__class__ is self.__class__

    def __hash__(self):
        return hash(self.__class__.__name__)

    def __call__(self, value, positions=False, chars=False, keeporiginal=False,
                 removestops=True, start_pos=0, start_char=0, tokenize=True,
                 mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        for pos, (term, start, end) in enumerate(tokens(value)):
            t.text = term
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = value[start:end]
            if positions:
                t.pos = start_pos + pos
            if chars:
                t.startchar, t.endchar = start_char + start, start_char + end
            yield t


def analyzer() -> HelpdeskTokenizer:
    return HelpdeskTokenizer()

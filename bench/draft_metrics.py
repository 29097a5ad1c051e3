"""Text-overlap measures for drafted articles: ROUGE-L and key-step recall.

Tokens are lower-cased words (letters and digits) and single CJK characters, with a short
list of function words dropped and a light suffix strip (``restarts``/``restarted`` →
``restart``), so "Restart the laptop" and "restarted your laptop" share their content.
"""
from __future__ import annotations

import re

TOKEN_RE = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+")
STOP = set("""a an the to of and or in on at for with by from your you it its is are be was were this that
    then than if so as do does did not no can will would should please we i me my our us them they he she
    之 的 了 在 是 和 与 或 把 被 就 都 也 请""".split())
SUFFIXES = ("ing", "ed", "es", "s")


def _stem(word: str) -> str:
    for suffix in SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    return [_stem(t) for t in TOKEN_RE.findall((text or "").lower()) if t not in STOP]


def lcs(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (two rows of the table)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str) -> dict[str, float]:
    """ROUGE-L precision, recall and F1 of ``candidate`` against ``reference``."""
    c, r = tokens(candidate), tokens(reference)
    n = lcs(c, r)
    p = n / len(c) if c else 0.0
    rec = n / len(r) if r else 0.0
    return {"p": p, "r": rec, "f": 2 * p * rec / (p + rec) if p + rec else 0.0}


def step_coverage(key_step: str, steps: list[str]) -> float:
    """How much of one key step the best single draft step contains (LCS recall, 0..1)."""
    key = tokens(key_step)
    if not key:
        return 1.0
    return max((lcs(key, tokens(s)) / len(key) for s in steps), default=0.0)


def step_recall(key_steps: list[str], steps: list[str], threshold: float = 0.5) -> dict[str, float]:
    """Share of key steps found (coverage >= ``threshold``) and the mean coverage."""
    cover = [step_coverage(k, steps) for k in key_steps]
    if not cover:
        return {"recall": 1.0, "coverage": 1.0}
    return {"recall": sum(c >= threshold for c in cover) / len(cover), "coverage": sum(cover) / len(cover)}


LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")


def list_steps(section_text: str) -> list[str]:
    """The numbered or bulleted lines of a section (or its sentences when it has none)."""
    lines = [ln.strip() for ln in (section_text or "").splitlines() if ln.strip()]
    items = [LIST_ITEM.sub("", ln) for ln in lines if LIST_ITEM.match(ln)]
    return items or [s for s in re.split(r"(?<=[.!?。！？])\s*", " ".join(lines)) if s.strip()]

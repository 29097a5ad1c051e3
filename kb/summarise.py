"""Summarising a resolved case into the sentences an article needs: the problem, the cause
and the ordered steps of the fix.

The :class:`Summariser` protocol is the seam: the default :class:`ExtractiveSummariser`
runs locally and offline (it only picks sentences people wrote, so it cannot invent a
step), and a different one (an on-premises language model, say) can be passed to
:func:`kb.drafting.draft_from_tickets` later without touching the drafting rules.

How the extractive one chooses:

- every text is cleaned first: quoted mail and signatures (:func:`kb.mail_parse.strip_reply`),
  greetings ("Hi team,"), thanks and sign-offs ("Thanks", "Kind regards" and whatever
  follows), and chasers ("Any update?", "just following up") go;
- **problem**: the requester's sentences (description, then their public replies) most
  central to the title and description: cosine similarity of each sentence's embedding
  to the embedding of title + description; without an embedder, word overlap with the
  title, earlier sentences first on ties. Kept in the order they were written;
- **cause**: the plan's diagnosis; else sentences of the fix that say why ("because",
  "caused by", "due to");
- **steps**: the plan's steps as written (list items or sentences), then the staff's
  replies that carry the fix (similar to the resolution text, or starting with an action
  verb such as "Restart", "Please reinstall"), then the resolution itself, in that order, skipping
  questions to the requester and near-duplicates.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from kb.mail_parse import strip_reply


@dataclass
class CaseText:
    """What a summariser may read of one or more tickets (internal notes only when the
    caller chose an internal article: the drafting service decides, not the summariser)."""

    title: str
    description: str
    requester_replies: list[str] = field(default_factory=list)
    staff_replies: list[str] = field(default_factory=list)   # public, in order; notes too if chosen
    diagnosis: str = ""
    plan_steps: str = ""
    resolution: str = ""


@dataclass
class Summary:
    problem: list[str]
    cause: list[str]
    steps: list[str]


class Summariser(Protocol):
    def summarise(self, case: CaseText) -> Summary: ...


# ------------------------------------------------------------------ cleaning
GREETING = re.compile(r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings|您好|你好)\b"
                      r"(\s+[\w.'-]+){0,3}?\s*([,!:，！：]|$)\s*", re.I)
CLOSING = re.compile(r"^\s*(thanks?( you)?|many thanks|thx|cheers|regards|best( regards| wishes)?|kind regards|"
                     r"warm regards|sincerely|br|谢谢|多谢|此致)\b", re.I)
CLOSING_MAX = 30  # a sign-off line is short ("Thanks, Bob"); a longer one is content
THANKS = re.compile(r"^\s*(thanks?( you)?|many thanks|thank you (for|so much)|appreciate)\b.{0,80}$", re.I)
CHASER = re.compile(r"\b(any (update|news|progress)|is there (an|any) update|following up|follow(ing)? up on|"
                    r"just checking( in)?|still waiting|bump|any eta|when will (this|it) be (fixed|done))\b", re.I)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+(?=\S)|(?<=[。！？])")
LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)]|step \d+[:.)])\s+", re.I)
# Not the problem: how to reach the requester, or who they are ("Call me on ...", "I'm Sam from finance").
ABOUT_ME = re.compile(r"^(please\s+)?(call|ring|phone|text|mail|email|e-mail|contact|reach)\s+me\b|\bmy (phone|mobile|"
                      r"extension|number|email|e-mail) is\b|^(i'm|i am|this is|my name is)\s+[A-Z][a-z]+\b[^.!?]{0,30}"
                      r"[.!?]?$", re.I)
# Not the problem either: the requester confirming the fix ("OK now, it works", "That did it").
CONFIRMS = re.compile(r"\b(works? (now|again|fine)|working (now|again)|ok now|fixed now|that (did it|worked|fixed it)|"
                      r"all good|problem solved|solved now|back to normal|好了|可以了|解决了)\b", re.I)
# Not a step: talk around the fix ("Let's check the Windows side", "That's why - ...", "Good news: ...").
TALK_START = re.compile(r"^(let'?s|that'?s (why|it|the)|this is (why|because)|so that'?s|good news|as (we )?discussed|"
                        r"ok(ay)?[,!. ]|great[,!. ]|sorry|no worries|happy to help)", re.I)
CAUSE_CUE = re.compile(r"\b(because|caused by|due to|root cause|the cause|was the cause|turned out|expired|"
                       r"was (set to|missing|corrupt|blocked|disabled|locked))\b|原因|由于|因为", re.I)
ACTION_START = re.compile(r"^(please\s+|you can\s+|i\s+|we\s+)?(restart|reboot|reinstall|install|uninstall|open|"
                          r"click|select|choose|run|update|upgrade|reset|clear|remove|delete|enable|disable|set|"
                          r"change|sign|log|go to|connect|disconnect|replace|check|renew|unlock|re-?enrol+|add|"
                          r"turn|switch|hold|press|wait|type|enter|download|plug|unplug|reconnect|move|copy|"
                          r"save|export|import|allow|approve|restore|rebuild|re-?map|map|configure|assign|grant|"
                          r"flush|empty|rename|"
                          r"cleared|reset|reinstalled|replaced|updated|removed|renewed|restarted|unlocked|added|"
                          r"changed|enabled|disabled|granted|re-?enrolled|rebuilt|configured|installed)\b", re.I)


WRAP_END = re.compile(r"[.!?:;。！？：；)]\s*$")
_CJK_END = re.compile(r"[\u3400-\u9fff，、]$")


def clean_lines(text: str, *, join_wrapped: bool = False) -> list[str]:
    """The lines a person meant as content (no quotes, signature, greeting, thanks, chasers).

    ``join_wrapped`` joins hard-wrapped lines back into their sentence: mail clients and
    people wrap at ~72 characters, so a line that ends without punctuation, followed in the
    same paragraph by one that starts no list item, is the same sentence ("Please sign out
    of Windows and" / "sign back in."). A blank line always ends the sentence."""
    kept: list[str] = []
    new_paragraph = True
    for line in strip_reply(text or "").split("\n"):
        if CLOSING.match(line) and len(line.strip()) <= CLOSING_MAX:
            break  # a sign-off: the rest is the name and the signature
        line = GREETING.sub("", line, count=1).strip()
        if not line:
            new_paragraph = True
            continue
        if THANKS.match(line):
            continue
        if (join_wrapped and kept and not new_paragraph and not WRAP_END.search(kept[-1])
                and not LIST_ITEM.match(line)):
            kept[-1] += ("" if _CJK_END.search(kept[-1]) else " ") + line
        else:
            kept.append(line)
        new_paragraph = False
    return kept


def sentences(text: str) -> list[str]:
    """Sentences and list items, cleaned; chasers dropped."""
    out = []
    for line in clean_lines(text, join_wrapped=True):
        if LIST_ITEM.match(line):
            parts = [LIST_ITEM.sub("", line)]
        else:
            parts = SENTENCE_END.split(line)
        for part in parts:
            part = part.strip()
            if len(part) >= 3 and not CHASER.search(part) and not THANKS.match(part):
                out.append(part)
    return out


def _norm(s: str) -> str:
    return " ".join(re.findall(r"\w+", s.lower()))


def _words(s: str) -> set[str]:
    return {w for w in re.findall(r"\w+", s.lower()) if len(w) > 2}


# ---------------------------------------------------------------- summariser
class ExtractiveSummariser:
    """Picks sentences with the embedder it is given (or word overlap without one)."""

    def __init__(self, embedder=None, *, max_problem: int = 3, max_cause: int = 3, max_steps: int = 10,
                 fix_threshold: float = 0.35, duplicate_threshold: float = 0.92):
        self.embedder = embedder
        self.max_problem, self.max_cause, self.max_steps = max_problem, max_cause, max_steps
        self.fix_threshold, self.duplicate_threshold = fix_threshold, duplicate_threshold

    def _similarity(self, items: Sequence[str], reference: str) -> np.ndarray:
        if not items:
            return np.zeros(0)
        vectors = self.embedder.encode([reference, *items])
        return vectors[1:] @ vectors[0]

    def problem(self, case: CaseText) -> list[str]:
        candidates = [s for s in sentences(case.description) + [s for r in case.requester_replies
                                                                 for s in sentences(r)] if not ABOUT_ME.search(s) and not CONFIRMS.search(s)]
        if len(candidates) <= self.max_problem:
            return candidates or [case.title]
        reference = f"{case.title}\n{case.description}"
        if self.embedder is not None:
            scores = self._similarity(candidates, reference)
        else:
            title = _words(case.title)
            scores = np.array([len(_words(s) & title) - i * 0.01 for i, s in enumerate(candidates)])
        best = sorted(np.argsort(-scores, kind="stable")[:self.max_problem])
        return [candidates[i] for i in best]

    def cause(self, case: CaseText) -> list[str]:
        if case.diagnosis.strip():
            return sentences(case.diagnosis)[:self.max_cause]
        fix = sentences(case.resolution) + [s for r in case.staff_replies for s in sentences(r)]
        return [s for s in fix if CAUSE_CUE.search(s) and not s.endswith("?")][:self.max_cause]

    def steps(self, case: CaseText) -> list[str]:
        planned = sentences(case.plan_steps)
        replies = [s for r in case.staff_replies for s in sentences(r)
                   if not s.rstrip().endswith(("?", "？")) and not TALK_START.match(s)]
        resolution = [s for s in sentences(case.resolution) if not s.endswith("?")]
        if replies:
            near_fix = [False] * len(replies)
            if self.embedder is not None and case.resolution.strip():
                near_fix = self._similarity(replies, case.resolution) >= self.fix_threshold
            replies = [s for s, near in zip(replies, near_fix) if near or ACTION_START.match(s)]
        return self._dedupe(planned + replies + resolution)[:self.max_steps]

    def _dedupe(self, items: list[str]) -> list[str]:
        kept, seen = [], set()
        for s in items:
            key = _norm(s)
            if key and key not in seen:
                seen.add(key)
                kept.append(s)
        if self.embedder is None or len(kept) < 2:
            return kept
        vectors = self.embedder.encode(kept)
        out: list[int] = []
        for i in range(len(kept)):
            if all(float(vectors[i] @ vectors[j]) < self.duplicate_threshold for j in out):
                out.append(i)
        return [kept[i] for i in out]

    def summarise(self, case: CaseText) -> Summary:
        return Summary(problem=self.problem(case), cause=self.cause(case), steps=self.steps(case))

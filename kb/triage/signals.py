"""Explicit priority signals in ticket text (English, German, Chinese).

Embeddings guess from similar past tickets; these rules catch the few phrases that must
never be missed ("data loss", "all users", "系统崩溃") and say exactly which phrase fired,
so the suggestion can be explained and corrected.

Matching: Latin-script phrases match on word boundaries, case-insensitively, with any
run of spaces or hyphens between words ("data-loss" = "data loss"), so "crashplan" or
"download" never match "crash" or "down". Chinese has no word boundaries, so Chinese
phrases match as substrings. A rule may list exceptions ("data loss prevention" is a
product category, "crash course" is training) that suppress it where they overlap.

Negation policy: a phrase preceded in the same clause (up to three words, or four CJK
characters) by a negation cue — "no", "not", "without", "n't", "kein", "nicht", "ohne",
"没有", "未", "无", "不" ... — is reported with ``negated=True`` and ignored for priority.
"No data loss, but the server is down" therefore still fires on "server is down". The
window stops at clause punctuation and "but"/"aber"/"但", so "no idea why, all users are
locked out" still counts "all users". Negation after the phrase ("data loss: none") is not
detected; it errs towards a higher priority, which an agent can lower.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Levels by key; their labels and the matrix live in kb.triage.priority.
IMPACT_KEYS = ("single", "several", "all")
URGENCY_KEYS = ("can_wait", "impeded", "stopped")


@dataclass(frozen=True)
class Rule:
    id: str
    impact: str | None
    urgency: str | None
    en: tuple[str, ...] = ()
    de: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()  # overlapping phrases that mean something else


@dataclass(frozen=True)
class Signal:
    rule: str
    phrase: str  # as written in the text (lowercased)
    lang: str
    impact: str | None
    urgency: str | None
    start: int
    negated: bool = False

    @property
    def reason(self) -> str:
        return f"mentions '{self.phrase}'" + (" (negated, ignored)" if self.negated else "")


# Patterns are regular expressions over lowercased text; a space means "spaces or hyphens".
RULES: tuple[Rule, ...] = (
    Rule("data_loss", "all", "stopped",
         en=(r"data (loss|lost)", r"lost (all )?(my |our |the )?(data|files)", r"(files|data) (were |was |have been |got )?(deleted|wiped|lost|corrupted)",
             r"data corruption", r"corrupt(ed)? (database|data)"),
         de=(r"datenverlust(e|es)?", r"daten (sind |wurden )?(weg|verloren|gelöscht)"),
         zh=("数据丢失", "丢失数据", "数据丢了", "数据被删除", "数据损坏", "文件丢失"),
         unless=(r"data loss prevention", r"dlp")),
    Rule("system_down", "all", "stopped",
         en=(r"(system|server|network|site|website|service|database|erp|sap|email|e mail) (is |are |has |went |goes )?(down|offline|crashed|unreachable)",
             r"outage", r"system crash(ed|es)?", r"ransomware", r"security breach", r"hacked"),
         de=(r"system(e)? (ist |sind )?(ausgefallen|down|abgestürzt)", r"systemausfall", r"totalausfall", r"server (ist )?(down|ausgefallen)",
             r"störung (im |des )?(gesamten )?netz(werk(es)?)?"),
         zh=("系统崩溃", "系统宕机", "服务器宕机", "宕机", "系统瘫痪", "网络中断", "服务中断", "勒索病毒")),
    Rule("crash", "several", "stopped",
         en=(r"crash(es|ed|ing)?", r"blue screen", r"bsod"),
         de=(r"absturz", r"abgestürzt", r"stürzt (\w+ )?ab", r"bluescreen"),
         zh=("崩溃", "闪退", "蓝屏", "死机"),
         unless=(r"crash course", r"crash test(s|ing)?", r"crashplan")),
    Rule("all_users", "all", None,
         en=(r"all (the )?(users|employees|staff|colleagues)", r"everyone (in|at) (the |our |this )?(office|company|department|team|site|plant|building)",
             r"(affects|affecting|for) everyone", r"every user",
             r"whole (department|company|office|site|plant|team)", r"entire (department|company|office|site|plant|team)", r"nobody can"),
         de=(r"alle (benutzer|nutzer|anwender|mitarbeiter(innen)?|kollegen)", r"ganze(n)? (abteilung|firma|standort|werk)",
             r"niemand kann"),
         zh=("所有用户", "全部用户", "所有人", "所有员工", "全体员工", "整个部门", "全公司")),
    Rule("several_users", "several", None,
         en=(r"(several|multiple|many|some) (users|employees|colleagues|people|computers|pcs)", r"my team", r"our team"),
         de=(r"(mehrere|einige|viele) (benutzer|nutzer|anwender|mitarbeiter|kollegen|rechner)", r"unser team"),
         zh=("多个用户", "部分用户", "一些用户", "多名员工")),
    Rule("work_stopped", None, "stopped",
         en=(r"(can ?not|can't|cant|unable to) work", r"work (has )?(stopped|is blocked)", r"production (is )?(stopped|down|halted)",
             r"urgent(ly)?", r"asap", r"immediately"),
         de=(r"kann nicht arbeiten", r"können nicht arbeiten", r"produktion steht", r"dringend", r"sofort"),
         zh=("无法工作", "不能工作", "生产停止", "停产", "紧急", "马上", "立即")),
    Rule("question", None, "can_wait",
         en=(r"how (do|can|should) i", r"question(s)?", r"suggestion(s)?", r"feature request", r"would be nice", r"when you have time",
             r"no rush", r"low priority"),
         de=(r"wie kann ich", r"frage", r"vorschlag", r"anregung", r"wenn sie zeit haben", r"nicht dringend"),
         zh=("请问", "如何", "建议", "咨询", "不急")),
)

_NEG_EN_DE = re.compile(r"(?:^|\b)(no|not|without|never|nor|none|kein(e|en|em|er)?|nicht|ohne|nie)\b|n't\b")
_NEG_ZH = re.compile(r"(没有|并未|没|未|无(?!法)|不(?!能|行|了)|非)")
_CLAUSE_BREAK = re.compile(r"[.,;:!?，。；：！？\n]|\bbut\b|\baber\b|\bhowever\b|\bjedoch\b|但|可是|不过")
_SEP = r"[\s\-]+"


def _compile_latin(pattern: str) -> re.Pattern:
    return re.compile(r"(?<![\w])" + pattern.replace(" ", _SEP) + r"(?![\w])")


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    patterns: tuple[tuple[str, re.Pattern], ...]
    unless: tuple[re.Pattern, ...]


def _compile(rule: Rule) -> _Compiled:
    pats = [(lang, _compile_latin(p)) for lang in ("en", "de") for p in getattr(rule, lang)]
    pats += [("zh", re.compile(re.escape(p))) for p in rule.zh]
    return _Compiled(rule, tuple(pats), tuple(_compile_latin(p) for p in rule.unless))


_COMPILED = tuple(_compile(r) for r in RULES)


def _negated(text: str, start: int, lang: str) -> bool:
    """A negation cue in the same clause, shortly before ``start``."""
    before = text[max(0, start - 60):start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end():]
    if lang == "zh":
        return bool(_NEG_ZH.search(before[-4:]))
    words = before.split()[-3:]
    window = " ".join(words)
    return bool(_NEG_EN_DE.search(window))


def find_signals(text: str | None, *, include_negated: bool = False) -> list[Signal]:
    """Signals in ``text`` in order of appearance; one per rule (its first clean match)."""
    if not text:
        return []
    low = text.lower()
    found: list[Signal] = []
    for c in _COMPILED:
        blocked = [m.span() for u in c.unless for m in u.finditer(low)]
        best: Signal | None = None
        for lang, pat in c.patterns:
            for m in pat.finditer(low):
                s, e = m.span()
                if any(bs < e and s < be for bs, be in blocked):
                    continue
                sig = Signal(c.rule.id, m.group(0), lang, c.rule.impact, c.rule.urgency, s, _negated(low, s, lang))
                if best is None or (best.negated, best.start) > (sig.negated, sig.start):
                    best = sig
        if best is not None and (include_negated or not best.negated):
            found.append(best)
    return sorted(found, key=lambda s: s.start)

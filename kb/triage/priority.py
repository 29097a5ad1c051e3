"""Priority = impact × urgency through a matrix, with the reason spelled out.

The matrix is data (a plain dict) so an organisation can replace it; ``priority_for`` is
a pure lookup that also explains itself. ``suggest_priority`` reads the explicit signals
in a ticket's text (see :mod:`kb.triage.signals`) and falls back to defaults for
whatever the text does not say.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .signals import IMPACT_KEYS, URGENCY_KEYS, Signal, find_signals

# Ordered lowest to highest; keys are stable identifiers, labels are what people read.
IMPACT_LEVELS: dict[str, str] = {
    "single": "single user",
    "several": "several users / a function impaired",
    "all": "whole department / all users / data loss",
}
URGENCY_LEVELS: dict[str, str] = {
    "can_wait": "can wait",
    "impeded": "work impeded",
    "stopped": "work stopped",
}
PRIORITIES: dict[str, str] = {  # lowest to highest, with what each one means
    "Low": "questions and suggestions",
    "Medium": "some users or a function impaired",
    "High": "system crash or data loss: respond immediately",
}

#                    can wait   work impeded  work stopped
DEFAULT_MATRIX: dict[str, dict[str, str]] = {
    "single":  {"can_wait": "Low",    "impeded": "Medium", "stopped": "Medium"},
    "several": {"can_wait": "Medium", "impeded": "Medium", "stopped": "High"},
    "all":     {"can_wait": "Medium", "impeded": "High",   "stopped": "High"},
}

DEFAULT_IMPACT = "single"
DEFAULT_URGENCY = "impeded"

assert tuple(IMPACT_LEVELS) == IMPACT_KEYS and tuple(URGENCY_LEVELS) == URGENCY_KEYS


def _key(value: str, levels: Mapping[str, str], what: str) -> str:
    """Accept a level's key ("all") or its label ("whole department / all users / data loss")."""
    if value in levels:
        return value
    for key, label in levels.items():
        if value.strip().lower() == label.lower():
            return key
    raise ValueError(f"unknown {what} {value!r}; expected one of {list(levels)} or {list(levels.values())}")


def validate_matrix(matrix: Mapping[str, Mapping[str, str]]) -> None:
    """Every impact × urgency cell present and holding a known priority."""
    for impact in IMPACT_LEVELS:
        for urgency in URGENCY_LEVELS:
            value = matrix.get(impact, {}).get(urgency)
            if value not in PRIORITIES:
                raise ValueError(f"matrix cell ({impact}, {urgency}) is {value!r}; expected one of {list(PRIORITIES)}")


def priority_for(impact: str, urgency: str,
                 matrix: Mapping[str, Mapping[str, str]] = DEFAULT_MATRIX) -> tuple[str, str]:
    """(priority, reason) for one impact and urgency (keys or labels)."""
    i = _key(impact, IMPACT_LEVELS, "impact")
    u = _key(urgency, URGENCY_LEVELS, "urgency")
    try:
        priority = matrix[i][u]
    except KeyError:
        raise ValueError(f"matrix has no cell for impact {i!r} × urgency {u!r}") from None
    if priority not in PRIORITIES:
        raise ValueError(f"matrix cell ({i}, {u}) is {priority!r}; expected one of {list(PRIORITIES)}")
    reason = f"impact '{IMPACT_LEVELS[i]}' × urgency '{URGENCY_LEVELS[u]}' → {priority} ({PRIORITIES[priority]})"
    return priority, reason


def priority_rank(priority: str) -> int:
    return list(PRIORITIES).index(priority)


@dataclass(frozen=True)
class PrioritySuggestion:
    priority: str
    impact: str
    urgency: str
    reason: str
    signals: tuple[Signal, ...] = field(default_factory=tuple)


def suggest_priority(text: str | None, matrix: Mapping[str, Mapping[str, str]] = DEFAULT_MATRIX, *,
                     default_impact: str = DEFAULT_IMPACT, default_urgency: str = DEFAULT_URGENCY) -> PrioritySuggestion:
    """Impact and urgency from the text's signals (the highest each), else the defaults.

    A "can wait" signal (a question, a suggestion) only lowers urgency when no other
    signal raises it: the highest signalled level wins, and the default only applies
    when nothing was said.
    """
    signals = find_signals(text)
    impacts = [s for s in signals if s.impact]
    urgencies = [s for s in signals if s.urgency]
    impact = max((s.impact for s in impacts), key=IMPACT_KEYS.index, default=_key(default_impact, IMPACT_LEVELS, "impact"))
    urgency = max((s.urgency for s in urgencies), key=URGENCY_KEYS.index,
                  default=_key(default_urgency, URGENCY_LEVELS, "urgency"))
    priority, cell = priority_for(impact, urgency, matrix)

    def why(level: str, picked: list[Signal], attr: str) -> str:
        hits = [s.reason for s in picked if getattr(s, attr) == level]
        return ", ".join(hits) if hits else "default, nothing in the text says otherwise"
    reason = (f"impact: {why(impact, impacts, 'impact')}; urgency: {why(urgency, urgencies, 'urgency')}; {cell}")
    return PrioritySuggestion(priority, impact, urgency, reason, tuple(signals))

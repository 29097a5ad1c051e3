"""Triage: suggest a ticket's category/assignment and priority from its text.

No Flask here; the CLI (`flask triage ...`) and later the ticket views call these.
The API takes plain texts and labels, so corrections stored elsewhere can be fed
back as training data.
"""
from .evaluation import evaluate, stratified_split, tfidf_baseline
from .priority import (DEFAULT_MATRIX, IMPACT_LEVELS, PRIORITIES, URGENCY_LEVELS, PrioritySuggestion,
                       priority_for, suggest_priority, validate_matrix)
from .router import Router
from .signals import RULES, Rule, Signal, find_signals
from .text import join_fields, normalize_text

__all__ = [
    "Router", "evaluate", "tfidf_baseline", "stratified_split",
    "DEFAULT_MATRIX", "IMPACT_LEVELS", "URGENCY_LEVELS", "PRIORITIES", "PrioritySuggestion",
    "priority_for", "suggest_priority", "validate_matrix",
    "RULES", "Rule", "Signal", "find_signals", "normalize_text", "join_fields",
]

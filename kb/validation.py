"""Cleaning free text that people type: one rule for every service.

Line ends are normalised (browsers send CRLF), surrounding space is dropped, and the
length limit gives the same message everywhere.
"""
from __future__ import annotations

from kb.errors import ValidationError


def clean_text(value: str | None, *, field: str, limit: int, label: str | None = None,
               missing: str | None = None) -> str:
    """The trimmed text; ``missing`` is the message for an empty value (None: may be empty)."""
    text = (value or "").replace("\r\n", "\n").strip()
    if not text and missing:
        raise ValidationError(missing, field)
    if len(text) > limit:
        raise ValidationError(f"The {label or field} can have at most {limit} characters.", field)
    return text

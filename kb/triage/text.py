"""Ticket text normalisation for the router.

Mail-intake boilerplate ("received from: someone@example.com"), addresses, ids and
long numbers say who sent a ticket or which instance it is, not what it is about; left
in, a classifier memorises them and stops generalising to new callers and new ids.
"""
from __future__ import annotations

import re
from typing import Iterable

_HEADER_RE = re.compile(r"^\s*(received from|from|sent|to|cc|subject|von|gesendet|an|betreff|发件人|收件人|发送时间|主题)\s*[:：].*$",
                        re.IGNORECASE | re.MULTILINE)
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL_RE = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_IP_RE = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
# A run of 4+ digits (ids, dates, ticket numbers), possibly glued to letters like "job_3049".
_DIGITS_RE = re.compile(r"\d{4,}")
_SPACE_RE = re.compile(r"\s+")


def normalize_text(text: str | None) -> str:
    """Lowercased text without mail headers, addresses, urls and long digit runs."""
    if not text:
        return ""
    text = _HEADER_RE.sub(" ", text)
    text = _EMAIL_RE.sub(" ", text)
    text = _URL_RE.sub(" ", text)
    text = _IP_RE.sub(" ", text)
    text = _DIGITS_RE.sub("0", text)
    return _SPACE_RE.sub(" ", text).strip().lower()


def join_fields(values: Iterable[str | None]) -> str:
    """Join a ticket's text fields, skipping a field that repeats an earlier one.

    Many intake channels copy the subject into the body; counting it twice would
    only double its weight.
    """
    seen: list[str] = []
    for value in values:
        v = (value or "").strip()
        if not v:
            continue
        if any(v in s for s in seen):
            continue
        seen = [s for s in seen if s not in v]  # a truncated subject inside the body
        seen.append(v)
    return "\n".join(seen)

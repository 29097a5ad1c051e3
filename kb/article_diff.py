"""Comparing two revisions of an article for the history page.

The title and body are diffed as one text (title on the first line) with
difflib's unified diff, parsed into hunks of typed lines so a template can
colour them without string sniffing. Metadata changes (category, tags,
audience, status) are listed separately.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from sqlalchemy.orm import object_session

from kb.articles_models import ArticleRevision
from kb.taxonomy import Category

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "context", "add" or "del"
    text: str
    old_no: int | None
    new_no: int | None


@dataclass(frozen=True)
class DiffHunk:
    header: str
    lines: list[DiffLine]


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass
class RevisionDiff:
    old_number: int
    new_number: int
    fields: list[FieldChange] = field(default_factory=list)
    hunks: list[DiffHunk] = field(default_factory=list)
    added: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.fields or self.hunks)


def _lines(text: str | None) -> list[str]:
    return (text or "").replace("\r\n", "\n").split("\n")


def _text_lines(rev: ArticleRevision) -> list[str]:
    return [rev.title, ""] + _lines(rev.body)


def _category_slug(rev: ArticleRevision, category_id: int | None) -> str:
    if category_id is None:
        return ""
    session = object_session(rev)
    cat = session.get(Category, category_id) if session is not None else None
    return cat.slug if cat is not None else str(category_id)


def _field_changes(old: ArticleRevision, new: ArticleRevision) -> list[FieldChange]:
    pairs = [
        ("category", _category_slug(old, old.category_id), _category_slug(new, new.category_id)),
        ("subcategory", _category_slug(old, old.subcategory_id), _category_slug(new, new.subcategory_id)),
        ("tags", old.tags or "", new.tags or ""),
        ("audience", old.audience, new.audience),
        ("status", old.status, new.status),
    ]
    return [FieldChange(name, a, b) for name, a, b in pairs if a != b]


def revision_diff(old_rev: ArticleRevision, new_rev: ArticleRevision, context: int = 3) -> RevisionDiff:
    """A structured unified diff from ``old_rev`` to ``new_rev`` (either order of numbers works)."""
    result = RevisionDiff(old_number=old_rev.number, new_number=new_rev.number,
                          fields=_field_changes(old_rev, new_rev))
    _diff_into(result, _text_lines(old_rev), _text_lines(new_rev), context)
    return result


def text_diff(old_text: str, new_text: str, context: int = 3) -> RevisionDiff:
    """The same structure for two texts (a proposed update against the article's body)."""
    result = RevisionDiff(old_number=0, new_number=0)
    _diff_into(result, _lines(old_text), _lines(new_text), context)
    return result


def _diff_into(result: RevisionDiff, old_lines: list[str], new_lines: list[str], context: int) -> None:
    hunk: DiffHunk | None = None
    old_no = new_no = 0
    for line in difflib.unified_diff(old_lines, new_lines, lineterm="", n=context):
        if line.startswith(("---", "+++")) and hunk is None:
            continue
        match = _HUNK.match(line)
        if match:
            old_no, new_no = int(match.group(1)), int(match.group(2))
            hunk = DiffHunk(header=line, lines=[])
            result.hunks.append(hunk)
            continue
        tag, text = line[:1], line[1:]
        if tag == "+":
            hunk.lines.append(DiffLine("add", text, None, new_no))
            new_no += 1
            result.added += 1
        elif tag == "-":
            hunk.lines.append(DiffLine("del", text, old_no, None))
            old_no += 1
            result.removed += 1
        else:
            hunk.lines.append(DiffLine("context", text, old_no, new_no))
            old_no += 1
            new_no += 1

"""Moving an existing knowledge base in: a JSONL file, or a folder of Markdown/HTML files.

Each record is validated with the same rules as the article form and written
in its own SAVEPOINT, so a bad record is reported with its location and
skipped, never half-imported, while the rest go in. Records are matched by
``source_id``, so importing the same source again updates what changed (as a
new revision), leaves the rest alone, and never duplicates. The caller commits.

Front matter (Markdown and HTML files)::

    ---
    title: Reset your password
    category: access
    subcategory: accounts-passwords
    tags: password, reset
    audience: public
    source_id: kb-001
    lang: en
    ---
    # Body...
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb.articles import insert_article, revise_article, same_content, validate_fields
from kb.articles_models import Article
from kb.errors import KBError, ValidationError

IMPORT_STATUSES = ("draft", "in_review", "published")
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KEY_ALIASES = {"id": "source_id", "source": "source_id", "sub_category": "subcategory", "language": "lang"}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (location, message)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Record:
    location: str
    data: dict | None = None
    error: str | None = None


# ------------------------------------------------------------------ parsing
def detect_lang(text: str) -> str:
    """"zh" when Chinese characters make up a real share of the letters, else "en"."""
    sample = (text or "")[:5000]
    cjk = len(_CJK.findall(sample))
    letters = sum(1 for ch in sample if ch.isalpha())
    return "zh" if cjk and cjk >= 0.2 * letters else "en"


def _norm_key(key) -> str:
    key = re.sub(r"[\s\-]+", "_", str(key).strip().lower())
    return _KEY_ALIASES.get(key, key)


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split a ``---`` block of ``key: value`` lines from the body. Raises ValueError if malformed."""
    text = text.lstrip("\ufeff")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError("the file does not start with a front-matter block (a line with ---)")
    meta: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return meta, "\n".join(lines[i + 1:]).strip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"front-matter line {i + 1} is not 'key: value': {line.strip()[:60]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        meta[_norm_key(key)] = value
    raise ValueError("the front-matter block is not closed with a line with ---")


def html_to_markdown(html: str) -> str:
    """HTML article bodies become Markdown; scripts and styles are dropped with their content.

    The result is sanitised again when rendered, so this is about fidelity, not safety.
    """
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "embed", "head"]):
        tag.decompose()
    return markdownify(str(soup), heading_style="ATX", bullets="-", strip=["form", "input", "button"]).strip()


def _jsonl_records(path: Path, label: str) -> Iterator[_Record]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        yield _Record(label, error=f"cannot read the file: {exc}")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _Record(where, error=f"not valid JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield _Record(where, error="each line must be a JSON object")
            continue
        data = {_norm_key(k): v for k, v in data.items()}
        if "body" not in data and isinstance(data.get("body_html", data.get("html")), str):
            data["body"] = html_to_markdown(data.get("body_html", data.get("html")))
        yield _Record(where, data=data)


def _file_record(path: Path, label: str) -> _Record:
    try:
        meta, body = parse_front_matter(path.read_text(encoding="utf-8-sig").replace("\r\n", "\n"))
    except (OSError, UnicodeDecodeError) as exc:
        return _Record(label, error=f"cannot read the file: {exc}")
    except ValueError as exc:
        return _Record(label, error=str(exc))
    if path.suffix.lower() in HTML_SUFFIXES:
        body = html_to_markdown(body)
    meta["title"], meta["body"] = title_from_heading(meta.get("title"), body)
    meta.setdefault("source_id", "file:" + label)  # a folder re-imported keeps its records by path
    return _Record(label, data=meta)


_LEADING_H1 = re.compile(r"\A\s*#[ \t]+(?P<title>[^\n]+?)[ \t#]*(?:\n|\Z)")


def title_from_heading(title: str | None, body: str) -> tuple[str | None, str]:
    """Files exported from wikis usually open with ``# Title``. The page shows the title
    already, so a leading H1 that repeats it is dropped, and it supplies a missing title."""
    match = _LEADING_H1.match(body)
    if not match:
        return title, body
    heading = match.group("title").strip()
    if not title:
        return heading, body[match.end():].lstrip("\n")
    if heading.casefold() == title.strip().casefold():
        return title, body[match.end():].lstrip("\n")
    return title, body


def _records(path: Path) -> list[_Record]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and p.suffix.lower() in MARKDOWN_SUFFIXES | HTML_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        return [_file_record(p, p.relative_to(path.parent).as_posix()) for p in files]
    if path.suffix.lower() in JSONL_SUFFIXES:
        return list(_jsonl_records(path, path.name))
    if path.suffix.lower() in MARKDOWN_SUFFIXES | HTML_SUFFIXES:
        return [_file_record(path, path.name)]
    raise ValidationError(f"{path.name}: import a .jsonl file or a folder of .md/.html files.", "path")


# ------------------------------------------------------------------ writing
def _text(data: dict, key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ValidationError(f"missing {key}", key)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "source_id":
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(f"{key} must be text", key)
    return value.strip()


def _import_one(session: Session, data: dict, *, author, status: str, location: str) -> str:
    """Validate and write one record; returns "created", "updated" or "unchanged"."""
    source_id = _text(data, "source_id", required=True)
    if len(source_id) > 200:
        raise ValidationError("source_id is longer than 200 characters", "source_id")
    title = _text(data, "title", required=True)
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ValidationError("missing body", "body")
    tags = data.get("tags") or []
    if not isinstance(tags, (str, list)) or (isinstance(tags, list) and not all(isinstance(t, str) for t in tags)):
        raise ValidationError("tags must be a list of strings or a comma-separated string", "tags")
    fields = validate_fields(session, title=title, body=body, category=_text(data, "category", required=True),
                             subcategory=_text(data, "subcategory"), tags=tags,
                             audience=_text(data, "audience") or "public",
                             lang=_text(data, "lang") or detect_lang(f"{title}\n{body}"))
    existing = session.scalar(select(Article).where(Article.source_id == source_id))
    if existing is None:
        insert_article(session, author, fields, status=status, note=f"Imported from {location}"[:500],
                       source_id=source_id)
        return "created"
    if same_content(existing, fields):
        return "unchanged"
    revise_article(session, author, existing, fields, note=f"Re-imported from {location}"[:500])
    return "updated"


def import_path(session: Session, path, *, author=None, status: str = "published",
                progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import a JSONL file or a folder of Markdown/HTML files (trusted callers: CLI, demo).

    New records get ``status``; records already imported keep their status
    (the lifecycle owns it after the first import) and only their content is revised.
    """
    if status not in IMPORT_STATUSES:
        raise ValidationError(f"Imported articles can be {', '.join(IMPORT_STATUSES)}, not {status!r}.", "status")
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path}: no such file or folder.", "path")
    records = _records(path)
    report = ImportReport()
    seen: dict[str, str] = {}
    total = len(records)
    if progress:
        progress(0, total)
    for done, record in enumerate(records, start=1):
        try:
            if record.error:
                raise ValidationError(record.error)
            source_id = str(record.data.get("source_id") or "").strip()
            if source_id and source_id in seen:
                raise ValidationError(f"source_id {source_id!r} was already used at {seen[source_id]}", "source_id")
            with session.begin_nested():
                outcome = _import_one(session, record.data, author=author, status=status, location=record.location)
            seen[source_id] = record.location
            setattr(report, outcome, getattr(report, outcome) + 1)
        except KBError as exc:
            report.errors.append((record.location, str(exc)))
        except SQLAlchemyError as exc:  # a constraint the validation did not foresee; the savepoint undid it
            report.errors.append((record.location, f"database refused the record: {type(exc).__name__}"))
        if progress:
            progress(done, total)
    return report

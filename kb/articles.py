"""Article services: validation, create/edit with revisions, the lifecycle, and reading.

Every change writes an ``ArticleRevision`` (the full content as it then was:
the audit trail and the history page) and enqueues an index job in the same
transaction. Services flush and never commit.

Lifecycle (``TRANSITIONS``; the table is the rule, ``transition_article`` the
only place that applies it)::

    draft --editors--> in_review --reviewers--> published --reviewers--> archived
      ^                    |                                                |
      +----reviewers-------+ (returned, with a note)                        |
      +---------------------------------reviewers---------------------------+

Editing does not change the status: an edit to a published article stays
published (live) and is recorded as a revision, so fixing a typo does not take
the answer away from requesters; anything larger can be sent back through
review by a reviewer (published -> archived -> draft). Edits to in-review
articles keep them in review. Archived articles can only be edited by
reviewers (``permissions.can_edit_article``).
"""
from __future__ import annotations

import re

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from kb import jobs, permissions
from kb.articles_models import AUDIENCES, LANGS, STATUSES, Article, ArticleRevision, Tag
from kb.article_diff import RevisionDiff, revision_diff  # noqa: F401 - re-exported
from kb.article_queries import Page, category_counts, list_articles, review_queue  # noqa: F401 - re-exported
from kb.article_votes import VoteCounts, vote_article, vote_counts  # noqa: F401 - re-exported
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.taxonomy import Category, get_category

EDITORS = frozenset(r.value for r in permissions.EDITOR_ROLES)
REVIEWERS = frozenset(r.value for r in permissions.REVIEWER_ROLES)

TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "draft": {"in_review": EDITORS},
    "in_review": {"published": REVIEWERS, "draft": REVIEWERS},
    "published": {"archived": REVIEWERS},
    "archived": {"draft": REVIEWERS},
}
NOTE_REQUIRED = {("in_review", "draft")}  # a returned article says why

TITLE_MIN, TITLE_MAX = 3, 200
BODY_MAX_BYTES = 200 * 1024
MAX_TAGS, TAG_MAX = 20, 60
NOTE_MAX = 500


@dataclass(frozen=True)
class ArticleFields:
    """Validated content of an article (what a revision snapshots)."""

    title: str
    body: str
    category: Category
    subcategory: Category | None
    tags: tuple[str, ...]
    audience: str
    lang: str


# ----------------------------------------------------------------- validation
TAG_SEPARATORS = re.compile(r"[,，、;；]")


def normalize_tags(tags) -> tuple[str, ...]:
    """Lowercase, trimmed, inner spaces collapsed, de-duplicated in order. Accepts a list or
    "a, b" (the Chinese comma and enumeration comma separate too: "打印机，卡纸、扫描")."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = TAG_SEPARATORS.split(tags)
    out: list[str] = []
    for raw in tags:
        name = " ".join(str(raw).split()).lower()
        if not name or name in out:
            continue
        if len(name) > TAG_MAX:
            raise ValidationError(f"A tag may have at most {TAG_MAX} characters: {name[:20]}…", "tags")
        out.append(name)
    if len(out) > MAX_TAGS:
        raise ValidationError(f"Use at most {MAX_TAGS} tags.", "tags")
    return tuple(out)


def validate_fields(session: Session, *, title, body, category, subcategory=None, tags=(), audience="public",
                    lang="en") -> ArticleFields:
    title = " ".join((title or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise ValidationError(f"The title must have {TITLE_MIN} to {TITLE_MAX} characters.", "title")
    body = (body or "").replace("\r\n", "\n")
    if not body.strip():
        raise ValidationError("The article needs a body.", "body")
    if len(body.encode("utf-8")) > BODY_MAX_BYTES:
        raise ValidationError(f"The body is larger than {BODY_MAX_BYTES // 1024} KB.", "body")
    cat = get_category(session, (category or "").strip()) if category else None
    if cat is None or cat.parent_id is not None:
        raise ValidationError(f"Unknown category {category!r}.", "category")
    sub = None
    if subcategory:
        sub = get_category(session, subcategory.strip())
        if sub is None or sub.parent_id != cat.id:
            raise ValidationError(f"{subcategory!r} is not a subcategory of {cat.slug!r}.", "subcategory")
    if audience not in AUDIENCES:
        raise ValidationError(f"Audience must be one of {', '.join(AUDIENCES)}.", "audience")
    if lang not in LANGS:
        raise ValidationError(f"Language must be one of {', '.join(LANGS)}.", "lang")
    return ArticleFields(title=title, body=body, category=cat, subcategory=sub, tags=normalize_tags(tags),
                         audience=audience, lang=lang)


def _check_note(note: str | None) -> str:
    note = " ".join((note or "").split())
    if len(note) > NOTE_MAX:
        raise ValidationError(f"The change note may have at most {NOTE_MAX} characters.", "note")
    return note


def fields_of(article: Article) -> ArticleFields:
    return ArticleFields(title=article.title, body=article.body, category=article.category,
                         subcategory=article.subcategory, tags=tuple(article.tag_names), audience=article.audience,
                         lang=article.lang)


def same_content(article: Article, fields: ArticleFields) -> bool:
    current = fields_of(article)
    return (current.title, current.body, current.category.id, current.subcategory.id if current.subcategory else None,
            sorted(current.tags), current.audience, current.lang) == (
        fields.title, fields.body, fields.category.id, fields.subcategory.id if fields.subcategory else None,
        sorted(fields.tags), fields.audience, fields.lang)


# ------------------------------------------------------------------- writing
def _tag_rows(session: Session, names) -> list[Tag]:
    existing = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(list(names))))} if names else {}
    rows = []
    for name in names:
        tag = existing.get(name)
        if tag is None:
            tag = Tag(name=name)
            session.add(tag)
        rows.append(tag)
    return rows


def _apply(session: Session, article: Article, fields: ArticleFields) -> None:
    article.title, article.body = fields.title, fields.body
    article.category, article.subcategory = fields.category, fields.subcategory
    article.audience, article.lang = fields.audience, fields.lang
    article.tags = _tag_rows(session, fields.tags)


def _record_revision(session: Session, article: Article, author, note: str) -> ArticleRevision:
    number = (session.scalar(select(func.max(ArticleRevision.number))
                             .where(ArticleRevision.article_id == article.id)) or 0) + 1
    rev = ArticleRevision(article=article, number=number, title=article.title, body=article.body,
                          category_id=article.category.id,
                          subcategory_id=article.subcategory.id if article.subcategory else None,
                          tags=",".join(sorted(article.tag_names)), audience=article.audience, status=article.status,
                          note=note, author=author)
    session.add(rev)
    session.flush()
    jobs.enqueue(session, "index_article", article.id)
    if article.status == "published":  # learners who completed it hear of a material change
        from kb.learning import article_revised  # late: kb.learning reads articles, not the reverse
        article_revised(session, article, rev)
    return rev


def insert_article(session: Session, author, fields: ArticleFields, *, status: str = "draft", note: str = "",
                   source_id: str | None = None) -> Article:
    """Create without a permission check: for trusted callers (the importer). Views use create_article."""
    if status not in STATUSES:
        raise ValidationError(f"Unknown status {status!r}.", "status")
    now = utcnow()
    article = Article(status=status, author=author, source_id=source_id, created_at=now, updated_at=now,
                      published_at=now if status == "published" else None, view_count=0)
    session.add(article)
    _apply(session, article, fields)
    session.flush()
    _record_revision(session, article, author, _check_note(note))
    return article


def revise_article(session: Session, author, article: Article, fields: ArticleFields, note: str = "") -> bool:
    """Apply new content and record a revision; False (and nothing written) when nothing changed."""
    note = _check_note(note)
    if same_content(article, fields):
        return False
    _apply(session, article, fields)
    article.updated_at = utcnow()  # tag-only changes do not touch the row's columns
    session.flush()
    _record_revision(session, article, author, note)
    return True


def create_article(session: Session, actor, *, title: str, body: str, category: str, subcategory: str | None = None,
                   tags=(), audience: str = "public", lang: str = "en", note: str = "") -> Article:
    """A new draft with revision 1, authored by ``actor``."""
    permissions.require(permissions.can_create_article(actor), "You may not write articles.")
    fields = validate_fields(session, title=title, body=body, category=category, subcategory=subcategory, tags=tags,
                             audience=audience, lang=lang)
    return insert_article(session, actor, fields, status="draft", note=note or "Created")


def update_article(session: Session, actor, article: Article, *, title: str, body: str, category: str,
                   subcategory: str | None = None, tags=(), audience: str = "public", lang: str = "en",
                   note: str = "", base_revision: int | None = None) -> Article:
    """Save an edit as the next revision; the status is unchanged (see the module docstring).

    ``base_revision`` is the revision the editor started from; if someone saved
    in between, the edit is refused instead of silently overwriting theirs.
    An edit that changes nothing records no revision.
    """
    if not permissions.can_view_article(actor, article):
        raise NotFound("We could not find that article.")
    permissions.require(permissions.can_edit_article(actor, article), "You may not edit this article.")
    fields = validate_fields(session, title=title, body=body, category=category, subcategory=subcategory, tags=tags,
                             audience=audience, lang=lang)
    if base_revision is not None and base_revision != current_revision_number(article):
        raise InvalidTransition("Someone else changed this article while you were editing it. "
                                "Open it again to see their change, then reapply yours.")
    revise_article(session, actor, article, fields, note)
    return article


def _role_of(actor) -> str | None:
    """The role that counts for the lifecycle: none for anonymous or deactivated users."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    return str(actor.role)


def allowed_transitions(actor, article: Article) -> list[str]:
    """The statuses this actor may move the article to now (for showing buttons)."""
    role = _role_of(actor)
    return [to for to, roles in TRANSITIONS.get(article.status, {}).items() if role is not None and role in roles]


def transition_article(session: Session, actor, article: Article, to_status: str, note: str = "") -> Article:
    """Move an article along the lifecycle; records a revision and reindexes it."""
    if not permissions.can_view_article(actor, article):
        raise NotFound("We could not find that article.")
    current = article.status
    if to_status not in STATUSES:
        raise InvalidTransition(f"Unknown status {to_status!r}.")
    roles = TRANSITIONS.get(current, {}).get(to_status)
    if roles is None:
        possible = ", ".join(TRANSITIONS.get(current, {})) or "nothing"
        raise InvalidTransition(f"An article that is {current.replace('_', ' ')} cannot become "
                                f"{to_status.replace('_', ' ')} (it can become: {possible.replace('_', ' ')}).")
    role = _role_of(actor)
    if role is None or role not in roles:
        raise PermissionDenied(f"Your role may not move an article from {current.replace('_', ' ')} "
                               f"to {to_status.replace('_', ' ')}.")
    note = _check_note(note)
    if (current, to_status) in NOTE_REQUIRED and not note:
        raise ValidationError("Say what needs to change before returning the article.", "note")
    if to_status == "published":
        from kb.drafting import check_publishable  # late: drafting builds on this module
        check_publishable(session, article)  # drafted from tickets: no personal data, no leaked notes
    article.status = to_status
    now = utcnow()
    article.updated_at = now
    if to_status == "published":
        article.published_at = article.reviewed_at = now  # a lead just checked it (kb.article_health)
    session.flush()
    _record_revision(session, article, actor, note or f"Status: {current} → {to_status}")
    return article


def record_view(session: Session, article: Article) -> None:
    """Count a view atomically (no lost updates), without touching updated_at."""
    session.execute(update(Article).where(Article.id == article.id)
                    .values(view_count=Article.view_count + 1, updated_at=Article.updated_at)
                    .execution_options(synchronize_session=False))
    session.refresh(article, ["view_count", "updated_at"])


# ------------------------------------------------------------------- reading
def get_article(session: Session, actor, article_id: int) -> Article:
    """The article, or NotFound when it is missing or hidden from this actor (existence stays private)."""
    article = session.get(Article, article_id) if isinstance(article_id, int) else None
    if article is None or not permissions.can_view_article(actor, article):
        raise NotFound("We could not find that article.")
    return article


def current_revision_number(article: Article) -> int:
    return article.revisions[-1].number if article.revisions else 0


def history(session: Session, actor, article: Article) -> list[ArticleRevision]:
    """All revisions, oldest first (staff only)."""
    if not permissions.can_view_article(actor, article):
        raise NotFound("We could not find that article.")
    permissions.require(permissions.can_view_history(actor, article), "Only staff can see the history.")
    return list(session.scalars(select(ArticleRevision).where(ArticleRevision.article_id == article.id)
                                .options(selectinload(ArticleRevision.author)).order_by(ArticleRevision.number)))


def get_revision(session: Session, actor, article: Article, number: int) -> ArticleRevision:
    for rev in history(session, actor, article):
        if rev.number == number:
            return rev
    raise NotFound(f"This article has no revision {number}.")

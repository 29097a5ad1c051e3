"""Dedup before creating: "update article X" instead of a second article on the same problem.

Before a draft is stored, its title, Problem and Resolution are compared by meaning with the
articles that exist (published, in review or still a draft; archived ones are gone). When
the best one reaches :data:`COVER_THRESHOLD` (the cosine of the MiniLM embeddings, measured
by ``bench/drafting_quality.py`` on the demo case/article pairs and on stackfaq, see
docs/benchmarks.md), the product proposes the draft's Cause and Resolution as an addition to
that article instead: an :class:`ArticleSuggestion` with the tickets it came from, shown with
a diff, applied (a new revision, by someone who may edit the article) or dismissed.

The addition is de-personalised like every draft; applying re-checks the lines it adds for
personal data of the source tickets' people. A draft that read internal notes is only ever
proposed to internal articles.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb import articles, drafting, permissions, pii
from kb.article_diff import RevisionDiff, text_diff
from kb.articles_models import Article
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, ValidationError
from kb.indexing import article_id_of
from kb.loop_models import ArticleSuggestion, ArticleSuggestionTicket
from kb.tickets import Ticket

COVER_THRESHOLD = 0.62  # measured (module docstring): near the demo's best, nearest stackfaq's best
LIVE_STATUSES = {"published", "in_review", "draft"}
CANDIDATES = 5
ADDITION_MAX = 20000  # characters: a resolution, not a second article
SECTION_RE = re.compile(r"^##\s+(.+?)\s*$", re.M)
RESOLUTION_HEADS = ("resolution", "fix", "solution", "the fix", "解决", "处理")  # how a heading starts
NOT_RECORDED = "_Not recorded"
NO_STEPS = "_No steps recorded"


@dataclass(frozen=True)
class Cover:
    """An existing article that already covers a draft's problem."""

    article: Article
    similarity: float


def _sections(body: str):
    """``(heading, text start, text end)`` for every ``##`` heading of a Markdown body."""
    heads = list(SECTION_RE.finditer(body or ""))
    for i, m in enumerate(heads):
        yield m.group(1).strip().lower(), m.end(), heads[i + 1].start() if i + 1 < len(heads) else len(body)


def section(body: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``##`` heading or the Sources line."""
    for name, start, end in _sections(body):
        if name == heading.lower():
            return re.split(r"^Sources: ", body[start:end], maxsplit=1, flags=re.M)[0].strip()
    return ""


def resolution_section(body: str) -> tuple[int, int] | None:
    """Where an article's resolution section is (start of its text, end), by the first heading
    that starts like one ("Resolution", "Resolution: report it", "解决方法", "处理步骤")."""
    return next(((start, end) for name, start, end in _sections(body) if name.startswith(RESOLUTION_HEADS)), None)


def problem_text(draft: drafting.Draft) -> str:
    """What an existing article must cover: the draft's title, Problem and Resolution.

    The fix is part of the question on purpose: two problems that read alike but are fixed
    differently (a VPN that drops vs. a VPN that is slow) are different articles; measured
    on the demo cases, adding the Resolution raised dedup accuracy from 0.81 to 0.85
    (docs/benchmarks.md)."""
    steps = section(draft.body, "Resolution")
    steps = "" if steps.startswith(NO_STEPS) else steps
    return "\n".join(p for p in (draft.title, section(draft.body, "Problem"), steps) if p).strip()


def find_cover(session: Session, actor, engine, draft: drafting.Draft, *, threshold: float = COVER_THRESHOLD,
               exclude: set[int] = frozenset()) -> Cover | None:
    """The article most similar to the draft's problem, if it reaches ``threshold``.

    Semantic search ranks by the best chunk's cosine, which is comparable across queries
    (fused hybrid scores are not); ``exclude`` leaves articles out (the evaluation's
    "article not written yet" case)."""
    filters = {"status": LIVE_STATUSES}
    if draft.audience == "internal":
        filters["audience"] = {"internal"}  # it read internal notes: never into a public article
    hits = engine.query(problem_text(draft), filters=filters, limit=CANDIDATES + len(exclude), mode="semantic")
    for hit in hits:
        article_id = article_id_of(hit.id)
        if article_id is None or article_id in exclude or hit.score < threshold:
            continue
        article = session.get(Article, article_id)
        if article is not None and article.status in LIVE_STATUSES and permissions.can_view_article(actor, article):
            return Cover(article, float(hit.score))
    return None


def addition_for(draft: drafting.Draft, tickets: list[Ticket]) -> str:
    """The new resolution as Markdown to add to the existing article."""
    cause = section(draft.body, "Cause")
    steps = section(draft.body, "Resolution")
    parts = [f"### Also resolved in {', '.join(t.reference for t in tickets)}"]
    if cause and not cause.startswith(NOT_RECORDED):
        parts.append(f"Cause: {cause}")
    if steps and not steps.startswith(NO_STEPS):
        parts.append(steps)
    return "\n\n".join(parts)


def proposed_body(body: str, addition: str) -> str:
    """The article's body with the addition at the end of its Resolution section (or at the end)."""
    body = (body or "").rstrip()
    where = resolution_section(body)
    if where is None:
        return f"{body}\n\n{addition}\n"
    start, end = where
    sources = re.search(r"^Sources: ", body[start:end], re.M)  # a drafted article's last line stays last
    if sources:
        end = start + sources.start()
    return f"{body[:end].rstrip()}\n\n{addition}\n\n{body[end:].lstrip()}".rstrip() + "\n"


def propose_update(session: Session, actor, tickets, *, engine, embedder, summariser=None,
                   include_internal: bool = False, threshold: float = COVER_THRESHOLD) -> ArticleSuggestion | None:
    """An "update article X" suggestion when an article covers these tickets' problem, else None.
    Checks the same rights as drafting."""
    tickets = drafting.check_tickets(session, actor, tickets)
    draft = drafting.build_draft(session, tickets, embedder=embedder, summariser=summariser,
                                 include_internal=include_internal)
    return _suggest(session, actor, tickets, draft, engine, threshold)


def draft_or_update(session: Session, actor, tickets, *, engine, embedder, summariser=None,
                    include_internal: bool = False, new_article: bool = False):
    """What "Draft article" does, building the draft once: ``("update", suggestion)`` when an
    article covers the problem (unless ``new_article``), else ``("draft", article)``, a new draft
    citing every ticket. (Building a draft is the summariser's embedding work, about 0.3 s.)"""
    tickets = drafting.check_tickets(session, actor, tickets)
    draft = drafting.build_draft(session, tickets, embedder=embedder, summariser=summariser,
                                 include_internal=include_internal)
    suggestion = None if new_article else _suggest(session, actor, tickets, draft, engine, COVER_THRESHOLD)
    if suggestion is not None:
        return "update", suggestion
    return "draft", drafting.store_draft(session, actor, tickets, draft)


def _suggest(session: Session, actor, tickets: list[Ticket], draft: drafting.Draft, engine,
             threshold: float) -> ArticleSuggestion | None:
    cover = find_cover(session, actor, engine, draft, threshold=threshold)
    if cover is None:
        return None
    existing = _open_for(session, cover.article, tickets)
    if existing is not None:
        return existing  # drafting the same tickets twice proposes the same update once
    suggestion = ArticleSuggestion(article_id=cover.article.id, ticket_id=tickets[0].id,
                                   addition=addition_for(draft, tickets)[:ADDITION_MAX],
                                   similarity=round(cover.similarity * 1000), status="open", author_id=actor.id,
                                   created_at=utcnow())
    session.add(suggestion)
    session.flush()
    for ticket in tickets:
        session.add(ArticleSuggestionTicket(suggestion_id=suggestion.id, ticket_id=ticket.id))
    session.flush()
    return suggestion


def _open_for(session: Session, article: Article, tickets: list[Ticket]) -> ArticleSuggestion | None:
    ids = {t.id for t in tickets}
    for suggestion in session.scalars(select(ArticleSuggestion).where(
            ArticleSuggestion.article_id == article.id, ArticleSuggestion.status == "open")):
        if set(suggestion_ticket_ids(session, suggestion)) == ids:
            return suggestion
    return None


# --------------------------------------------------------------- reviewing a suggestion
def suggestion_ticket_ids(session: Session, suggestion: ArticleSuggestion) -> list[int]:
    return list(session.scalars(select(ArticleSuggestionTicket.ticket_id)
                                .where(ArticleSuggestionTicket.suggestion_id == suggestion.id)
                                .order_by(ArticleSuggestionTicket.ticket_id)))


def suggestion_tickets(session: Session, suggestion: ArticleSuggestion) -> list[Ticket]:
    ids = suggestion_ticket_ids(session, suggestion)
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id))) if ids else []


def get_suggestion(session: Session, actor, suggestion_id: int) -> ArticleSuggestion:
    """Staff only; anyone else (and an unknown id) gets the same "not found"."""
    suggestion = session.get(ArticleSuggestion, suggestion_id)
    if suggestion is None or not permissions.is_staff(actor):
        raise NotFound("We could not find that suggested update.")
    article = session.get(Article, suggestion.article_id)
    if article is None or not permissions.can_view_article(actor, article):
        raise NotFound("We could not find that suggested update.")
    return suggestion


def open_suggestions(session: Session, actor, *, article: Article | None = None) -> list[ArticleSuggestion]:
    """Open suggestions, newest first (for one article, or all), for staff."""
    if not permissions.is_staff(actor):
        return []
    query = select(ArticleSuggestion).where(ArticleSuggestion.status == "open")
    if article is not None:
        query = query.where(ArticleSuggestion.article_id == article.id)
    return list(session.scalars(query.options(selectinload(ArticleSuggestion.article))
                                .order_by(ArticleSuggestion.created_at.desc(), ArticleSuggestion.id.desc())
                                .limit(200)))


def diff_of(session: Session, suggestion: ArticleSuggestion, body: str | None = None) -> RevisionDiff:
    """The article's current body against the proposed (or the editor's) new body."""
    article = session.get(Article, suggestion.article_id)
    return text_diff(article.body, body if body is not None else proposed_body(article.body, suggestion.addition))


def _added_text(old: str, new: str) -> str:
    diff = text_diff(old, new, context=0)
    return "\n".join(line.text for hunk in diff.hunks for line in hunk.lines if line.kind == "add")


def _require_open(suggestion: ArticleSuggestion) -> None:
    if suggestion.status != "open":
        raise InvalidTransition(f"This suggestion was already {suggestion.status}.")


def apply_suggestion(session: Session, actor, suggestion: ArticleSuggestion, *, body: str | None = None,
                     base_revision: int | None = None) -> Article:
    """Save the proposed body (or the editor's version of it) as the article's next revision.

    The status of the article is unchanged (as for any edit). What the change adds is checked
    for the source tickets' personal data; found, nothing is saved and the message says where."""
    _require_open(suggestion)
    article = session.get(Article, suggestion.article_id)
    new_body = body if body is not None else proposed_body(article.body, suggestion.addition)
    tickets = suggestion_tickets(session, suggestion)
    added = _added_text(article.body, new_body)
    pattern, extra = pii.name_pattern(drafting.system_names(session)), drafting.contacts_of(session, tickets)
    found = pii.find(added, pattern=pattern, extra=extra)
    if found:
        shown = "; ".join(f"{f.kind}: “{''.join(pii.excerpt(added, f))}”" for f in found[:5])
        raise ValidationError(f"Remove the personal data from the addition first ({len(found)} found): {shown}.",
                              "body")
    refs = ", ".join(t.reference for t in tickets) or f"suggestion {suggestion.id}"
    articles.update_article(session, actor, article, title=article.title, body=new_body,
                            category=article.category.slug if article.category else "",
                            subcategory=article.subcategory.slug if article.subcategory else None,
                            tags=article.tag_names, audience=article.audience, lang=article.lang,
                            note=f"Update from {refs}"[:articles.NOTE_MAX], base_revision=base_revision)
    suggestion.status = "applied"
    suggestion.decided_at = utcnow()
    suggestion.revision_number = articles.current_revision_number(article)
    session.flush()
    return article


def dismiss_suggestion(session: Session, actor, suggestion: ArticleSuggestion) -> None:
    """Not an update after all: the tickets count as uncovered again (a batch may draft them)."""
    _require_open(suggestion)
    article = session.get(Article, suggestion.article_id)
    permissions.require(permissions.can_edit_article(actor, article), "You may not change this article.")
    suggestion.status = "dismissed"
    suggestion.decided_at = utcnow()
    session.flush()

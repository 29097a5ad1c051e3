"""Collections (learning paths): trainers arrange published articles into ordered sections,
with an introduction and a note per step, for an audience of roles and/or one team.

This module is the curation side. Assignments, learners' progress and telling learners
that an article they completed has changed live in :mod:`kb.learning`. Services flush and
never commit; every change is for curators (``permissions.can_curate_collections``).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.articles_models import Article
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.loop_models import (COLLECTION_STATUSES, Collection, CollectionAssignment, CollectionItem,
                            CollectionSection)
from kb.search_service import search_articles
from kb.teams import Team, TeamMember
from kb.users import Role, User

TITLE_MAX = 200
INTRO_MAX = 20_000
NOTE_MAX = 2_000
ROLES = tuple(r.value for r in Role)
STAFF = frozenset(r.value for r in permissions.STAFF_ROLES)


@dataclass(frozen=True)
class Step:
    item: CollectionItem
    article: Article
    available: bool  # published and readable by the viewer (curators also see the others)


@dataclass(frozen=True)
class OutlineSection:
    section: CollectionSection
    steps: list[Step]


# ------------------------------------------------------------------ who sees what
def team_ids_of(session: Session, user) -> set[int]:
    if user is None:
        return set()
    return set(session.scalars(select(TeamMember.team_id).join(Team, Team.id == TeamMember.team_id)
                               .where(TeamMember.user_id == user.id, Team.active.is_(True))))


def is_assigned(session: Session, user, collection_id: int, team_ids=None) -> bool:
    teams = team_ids_of(session, user) if team_ids is None else set(team_ids)
    conds = [CollectionAssignment.user_id == user.id]
    if teams:
        conds.append(CollectionAssignment.team_id.in_(teams))
    return session.scalar(select(func.count()).select_from(CollectionAssignment)
                          .where(CollectionAssignment.collection_id == collection_id, or_(*conds))) > 0


def may_view(session: Session, actor, collection: Collection) -> bool:
    """``permissions.can_view_collection`` with the actor's teams and assignments looked up."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    if permissions.can_view_collection(actor, collection):
        return True
    if collection.status != "published":
        return False
    teams = team_ids_of(session, actor)
    return permissions.can_view_collection(actor, collection, team_ids=teams,
                                           assigned=is_assigned(session, actor, collection.id, teams))


def get_collection(session: Session, actor, collection_id) -> Collection:
    """The collection, or NotFound when it is missing or hidden (drafts stay private)."""
    c = session.get(Collection, collection_id) if isinstance(collection_id, int) else None
    if c is None or not may_view(session, actor, c):
        raise NotFound("We could not find that collection.")
    return c


def _curator(actor) -> None:
    permissions.require(permissions.can_curate_collections(actor), "Only trainers, team leads and admins "
                                                                   "curate collections.")


def list_collections(session: Session, actor) -> list[Collection]:
    _curator(actor)
    return list(session.scalars(select(Collection).order_by(Collection.status, Collection.updated_at.desc(),
                                                            Collection.id.desc())))


# ---------------------------------------------------------------- the collection
def _text(value, field: str, label: str, maximum: int, required: bool = False) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise ValidationError(f"Enter a {label}.", field)
    if len(value) > maximum:
        raise ValidationError(f"The {label} may have at most {maximum} characters.", field)
    return value


def parse_roles(roles) -> tuple[str, ...]:
    """Roles from a list or "agent, lead"; unknown roles are refused."""
    if isinstance(roles, str):
        roles = roles.split(",")
    out: list[str] = []
    for raw in roles or ():
        role = str(raw).strip().lower()
        if not role or role in out:
            continue
        if role not in ROLES:
            raise ValidationError(f"Unknown role {role!r}; choose from {', '.join(ROLES)}.", "audience_roles")
        out.append(role)
    return tuple(out)


def audience_staff_only(session: Session, roles, team_id: int | None) -> bool:
    """Internal articles are allowed only when everybody the audience names is staff."""
    if any(r not in STAFF for r in roles):
        return False
    if team_id is not None:
        member_roles = session.scalars(select(User.role).join(TeamMember, TeamMember.user_id == User.id)
                                       .where(TeamMember.team_id == team_id))
        return all(r in STAFF for r in member_roles)
    return True


def _items(session: Session, collection_id: int):
    return session.execute(
        select(CollectionItem, Article, CollectionSection)
        .join(CollectionSection, CollectionSection.id == CollectionItem.section_id)
        .join(Article, Article.id == CollectionItem.article_id)
        .where(CollectionSection.collection_id == collection_id)
        .order_by(CollectionSection.position, CollectionSection.id, CollectionItem.position, CollectionItem.id)).all()


def article_ids(session: Session, collection: Collection) -> list[int]:
    return [a.id for _i, a, _s in _items(session, collection.id)]


def _audience(session: Session, collection: Collection | None, roles, team_id) -> tuple[tuple[str, ...], int | None]:
    roles = parse_roles(roles)
    team_id = int(team_id) if team_id not in (None, "") else None
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationError("Unknown team.", "audience_team_id")
    if not roles and team_id is None:
        raise ValidationError("Choose who the collection is for: at least one role or a team.", "audience_roles")
    if collection is not None and not audience_staff_only(session, roles, team_id):
        internal = [a.title for _i, a, _s in _items(session, collection.id) if a.audience == "internal"]
        if internal:
            raise ValidationError("This audience includes people who cannot read internal articles; remove "
                                  f"them first: {', '.join(internal)}.", "audience_roles")
    return roles, team_id


def create_collection(session: Session, actor, *, title, intro="", audience_roles=(), audience_team_id=None
                      ) -> Collection:
    """A new draft collection, authored by ``actor``."""
    _curator(actor)
    title = _text(title, "title", "title", TITLE_MAX, required=True)
    intro = _text(intro, "intro", "introduction", INTRO_MAX)
    roles, team_id = _audience(session, None, audience_roles, audience_team_id)
    c = Collection(title=title, intro=intro, status="draft", audience_roles=",".join(roles),
                   audience_team_id=team_id, author_id=actor.id)
    session.add(c)
    session.flush()
    return c


def update_collection(session: Session, actor, collection: Collection, *, title, intro="", audience_roles=(),
                      audience_team_id=None) -> Collection:
    _curator(actor)
    collection.title = _text(title, "title", "title", TITLE_MAX, required=True)
    collection.intro = _text(intro, "intro", "introduction", INTRO_MAX)
    roles, team_id = _audience(session, collection, audience_roles, audience_team_id)
    collection.audience_roles, collection.audience_team_id = ",".join(roles), team_id
    collection.updated_at = utcnow()
    session.flush()
    return collection


def set_collection_status(session: Session, actor, collection: Collection, status: str) -> Collection:
    """Publish (learners in the audience see it; it can be assigned) or take back to draft."""
    _curator(actor)
    if status not in COLLECTION_STATUSES:
        raise ValidationError(f"Unknown status {status!r}.", "status")
    if status == "published" and not any(a.status == "published" for _i, a, _s in _items(session, collection.id)):
        raise ValidationError("Add at least one published article before publishing.", "status")
    collection.status = status
    collection.updated_at = utcnow()
    if status == "published":
        collection.published_at = collection.updated_at
    session.flush()
    return collection


# ------------------------------------------------------------------- sections
def sections(session: Session, collection: Collection) -> list[CollectionSection]:
    return list(session.scalars(select(CollectionSection).where(CollectionSection.collection_id == collection.id)
                                .order_by(CollectionSection.position, CollectionSection.id)))


def get_section(session: Session, actor, collection: Collection, section_id) -> CollectionSection:
    _curator(actor)
    s = session.get(CollectionSection, section_id) if isinstance(section_id, int) else None
    if s is None or s.collection_id != collection.id:
        raise NotFound("We could not find that section.")
    return s


def _touch(session: Session, collection_id: int) -> None:
    session.get(Collection, collection_id).updated_at = utcnow()
    session.flush()


def add_section(session: Session, actor, collection: Collection, title, intro="") -> CollectionSection:
    _curator(actor)
    s = CollectionSection(collection_id=collection.id, title=_text(title, "section_title", "section title",
                                                                   TITLE_MAX, required=True),
                          intro=_text(intro, "section_intro", "section introduction", INTRO_MAX),
                          position=len(sections(session, collection)))
    session.add(s)
    _touch(session, collection.id)
    return s


def update_section(session: Session, actor, section: CollectionSection, title, intro="") -> CollectionSection:
    _curator(actor)
    section.title = _text(title, "section_title", "section title", TITLE_MAX, required=True)
    section.intro = _text(intro, "section_intro", "section introduction", INTRO_MAX)
    _touch(session, section.collection_id)
    return section


def remove_section(session: Session, actor, section: CollectionSection) -> None:
    """Remove a section and its steps (learners' progress on those articles stays recorded)."""
    _curator(actor)
    for item in session.scalars(select(CollectionItem).where(CollectionItem.section_id == section.id)):
        session.delete(item)
    session.delete(section)
    _touch(session, section.collection_id)


def _reorder(rows: list, ids) -> None:
    by_id = {r.id: r for r in rows}
    try:
        wanted = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise ValidationError("The order is a list of ids.", "order") from None
    if sorted(wanted) != sorted(by_id):
        raise ValidationError("The new order must list every entry exactly once.", "order")
    for position, row_id in enumerate(wanted):
        by_id[row_id].position = position


def _moved(rows: list, row, offset: int) -> list[int]:
    ids = [r.id for r in rows]
    i = ids.index(row.id)
    j = min(max(i + offset, 0), len(ids) - 1)
    ids.insert(j, ids.pop(i))
    return ids


def reorder_sections(session: Session, actor, collection: Collection, ids) -> None:
    _curator(actor)
    _reorder(sections(session, collection), ids)
    _touch(session, collection.id)


def move_section(session: Session, actor, section: CollectionSection, offset: int) -> None:
    """Move up (-1) or down (+1)."""
    c = session.get(Collection, section.collection_id)
    reorder_sections(session, actor, c, _moved(sections(session, c), section, offset))


# ---------------------------------------------------------------------- items
def section_items(session: Session, section: CollectionSection) -> list[CollectionItem]:
    return list(session.scalars(select(CollectionItem).where(CollectionItem.section_id == section.id)
                                .order_by(CollectionItem.position, CollectionItem.id)))


def get_item(session: Session, actor, collection: Collection, item_id) -> CollectionItem:
    _curator(actor)
    item = session.get(CollectionItem, item_id) if isinstance(item_id, int) else None
    if item is None or session.get(CollectionSection, item.section_id).collection_id != collection.id:
        raise NotFound("We could not find that step.")
    return item


def add_item(session: Session, actor, section: CollectionSection, article_id, note="") -> CollectionItem:
    """Add a published article the audience may read, once per collection."""
    _curator(actor)
    note = _text(note, "note", "note", NOTE_MAX)
    article = session.get(Article, article_id) if isinstance(article_id, int) else None
    if article is None or article.status != "published":
        raise ValidationError("Only published articles can be added.", "article_id")
    c = session.get(Collection, section.collection_id)
    if article.id in article_ids(session, c):
        raise ValidationError(f"“{article.title}” is already in this collection.", "article_id")
    if article.audience == "internal" and not audience_staff_only(session, parse_roles(c.audience_roles),
                                                                  c.audience_team_id):
        raise ValidationError(f"“{article.title}” is internal, and this collection's audience includes people "
                              "who cannot read internal articles.", "article_id")
    item = CollectionItem(section_id=section.id, article_id=article.id, note=note,
                          position=len(section_items(session, section)))
    session.add(item)
    _touch(session, c.id)
    return item


def update_item(session: Session, actor, item: CollectionItem, note) -> CollectionItem:
    _curator(actor)
    item.note = _text(note, "note", "note", NOTE_MAX)
    _touch(session, session.get(CollectionSection, item.section_id).collection_id)
    return item


def remove_item(session: Session, actor, item: CollectionItem) -> None:
    _curator(actor)
    collection_id = session.get(CollectionSection, item.section_id).collection_id
    session.delete(item)
    _touch(session, collection_id)


def reorder_items(session: Session, actor, section: CollectionSection, ids) -> None:
    _curator(actor)
    _reorder(section_items(session, section), ids)
    _touch(session, section.collection_id)


def move_item(session: Session, actor, item: CollectionItem, offset: int) -> None:
    section = session.get(CollectionSection, item.section_id)
    reorder_items(session, actor, section, _moved(section_items(session, section), item, offset))


# -------------------------------------------------------------------- reading
def outline(session: Session, viewer, collection: Collection) -> list[OutlineSection]:
    """Sections in order with their steps; a learner sees only the articles they may open now
    (an archived or hidden article drops out), a curator sees every step, flagged."""
    curator = permissions.can_curate_collections(viewer)
    steps: dict[int, list[Step]] = {}
    for item, article, section in _items(session, collection.id):
        ok = article.status == "published" and permissions.can_view_article(viewer, article)
        if ok or curator:
            steps.setdefault(section.id, []).append(Step(item, article, ok))
    return [OutlineSection(s, steps.get(s.id, [])) for s in sections(session, collection)]


def readable_articles(session: Session, viewer, collection: Collection) -> list[Article]:
    """The steps that count for ``viewer``'s progress, in order."""
    return [st.article for sec in outline(session, viewer, collection) for st in sec.steps if st.available]


def suggest_articles(session: Session, actor, engine, collection: Collection, text: str | None = None, *,
                     limit: int = 6, mode: str = "hybrid"):
    """Articles to add, by meaning: ``text`` when the curator searched, else the collection's
    title with the titles of its steps. Steps already in it, and internal articles for an
    audience that may not read them, are left out. Returns ``kb.search_service.Suggestion``s."""
    _curator(actor)
    rows = _items(session, collection.id)
    present = {a.id for _i, a, _s in rows}
    query = text if text is not None else " ".join([collection.title, *(a.title for _i, a, _s in rows)])
    staff_only = audience_staff_only(session, parse_roles(collection.audience_roles), collection.audience_team_id)
    found = search_articles(session, actor, engine, query, limit=limit + len(present) + 5, mode=mode)
    return [s for s in found if s.article.id not in present and s.article.status == "published"
            and (staff_only or s.article.audience == "public")][:limit]

"""The learners' side of collections: assignments (to a person or a whole team, with a due
date), "My learning" with progress, opened and done marks, the trainers' progress table,
and telling learners who completed an article when it later changes materially.

Progress is recorded per (learner, collection, article) with the revision the learner
marked done, so a later change is measured against what that learner actually read.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.articles_models import Article, ArticleRevision
from kb.collections import STAFF, _curator, may_view, readable_articles, team_ids_of
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.loop_models import Collection, CollectionAssignment, LearningProgress
from kb.notifications import notify
from kb.teams import Team, TeamMember
from kb.users import User

KIND = "learning"
MATERIAL_RATIO = 0.9  # word-level similarity below this is more than a small edit


@dataclass(frozen=True)
class LearningEntry:
    collection: Collection
    done: int
    total: int
    outdated: int      # completed, then the article changed materially
    due_at: datetime | None
    overdue: bool
    last_activity: datetime | None

    @property
    def percent(self) -> int:
        return self.done * 100 // self.total if self.total else 0


@dataclass(frozen=True)
class LearnerRow:
    user: User
    entry: LearningEntry


# ------------------------------------------------------------ material change
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


@dataclass(frozen=True)
class MaterialChange:
    ratio: float
    added_sections: tuple[str, ...]
    removed_sections: tuple[str, ...]

    def summary(self) -> str:
        parts = [f"New section: {', '.join(self.added_sections)}."] if self.added_sections else []
        if self.removed_sections:
            parts.append(f"Removed section: {', '.join(self.removed_sections)}.")
        parts.append(f"About {round((1 - self.ratio) * 100)}% of the text changed.")
        return " ".join(parts)


def _headings(body: str) -> list[str]:
    return [" ".join(h.split()) for h in _HEADING.findall(body or "")]


def material_change(old_body: str, new_body: str) -> MaterialChange | None:
    """None for a small edit (a typo, a reworded sentence, a fixed link); otherwise what changed.

    "Material" means a section heading was added or removed, or the words of the body are
    less than ``MATERIAL_RATIO`` alike (difflib over words, so reflowing lines or changing
    spacing counts for nothing)."""
    old_words, new_words = (old_body or "").split(), (new_body or "").split()
    matcher = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    ratio = matcher.ratio() if matcher.quick_ratio() >= MATERIAL_RATIO else matcher.quick_ratio()
    old_h, new_h = _headings(old_body), _headings(new_body)
    old_keys, new_keys = {h.casefold() for h in old_h}, {h.casefold() for h in new_h}
    added = tuple(h for h in new_h if h.casefold() not in old_keys)
    removed = tuple(h for h in old_h if h.casefold() not in new_keys)
    if ratio >= MATERIAL_RATIO and not added and not removed:
        return None
    return MaterialChange(round(ratio, 3), added, removed)


def diff_path(article_id: int, from_no: int | None, to_no: int) -> str:
    return f"/kb/{article_id}/diff?from={from_no or max(to_no - 1, 1)}&to={to_no}"


def article_revised(session: Session, article: Article, revision: ArticleRevision, now: datetime | None = None
                    ) -> int:
    """Called by kb.articles for each revision recorded while the article is published: the
    learners who completed it in a published collection, and whose revision differs
    materially from this one, get ``outdated`` and one notification. Returns how many."""
    rows = session.execute(
        select(LearningProgress, Collection).join(Collection, Collection.id == LearningProgress.collection_id)
        .where(LearningProgress.article_id == article.id, LearningProgress.done_at.is_not(None),
               LearningProgress.outdated.is_(False), Collection.status == "published",
               or_(LearningProgress.done_revision.is_(None), LearningProgress.done_revision != revision.number))
    ).all()
    if not rows:
        return 0
    changes: dict[int | None, MaterialChange | None] = {}
    told: dict[int, list] = {}
    for progress, collection in rows:
        number = progress.done_revision
        if number not in changes:
            old = session.scalar(select(ArticleRevision.body).where(ArticleRevision.article_id == article.id,
                                                                    ArticleRevision.number == (number or revision.number - 1)))
            changes[number] = material_change(old, article.body) if old is not None else None
        if changes[number] is not None:
            progress.outdated = True
            told.setdefault(progress.user_id, []).append((progress, collection, changes[number]))
    for user_id, entries in told.items():
        _tell(session, user_id, article, revision, entries, now)
    session.flush()
    return len(told)


def _tell(session: Session, user_id: int, article: Article, revision: ArticleRevision, entries, now) -> None:
    progress, first, change = entries[0]
    titles = ", ".join(f"“{c.title}”" for _p, c, _ch in entries)
    user = session.get(User, user_id)
    link = (diff_path(article.id, progress.done_revision, revision.number) if permissions.is_staff(user)
            else f"/kb/{article.id}")
    note = revision.note or "no note given"
    text = (f"“{article.title}”, which you completed in {titles}, changed: {note}. {change.summary()} "
            f"See what changed: {link}")
    notify(session, user_id, KIND, text, now=now,
           links=[("See what changed", link), ("Open the learning path", f"/collections/{first.id}")])


# ---------------------------------------------------------------- assignments
def _recipients(session: Session, user: User | None, team: Team | None) -> list[User]:
    if team is not None:
        return list(session.scalars(select(User).join(TeamMember, TeamMember.user_id == User.id)
                                    .where(TeamMember.team_id == team.id, User.active.is_(True))
                                    .order_by(User.name)))
    return [user] if user.is_active else []


def assign_collection(session: Session, actor, collection: Collection, *, user: User | None = None,
                      team: Team | None = None, due_at: datetime | None = None, now: datetime | None = None
                      ) -> CollectionAssignment:
    """Assign a published collection to one person or a whole team (its current and future
    members), with an optional due date; tells each person now. Assigning the same target
    again changes the due date."""
    _curator(actor)
    now = now or utcnow()
    if collection.status != "published":
        raise ValidationError("Publish the collection before assigning it.", "status")
    if (user is None) == (team is None):
        raise ValidationError("Choose a person or a team.", "target")
    if due_at is not None and due_at < now:
        raise ValidationError("The due date is in the past.", "due_at")
    people = _recipients(session, user, team)
    if not people:
        raise ValidationError("Nobody active would receive this assignment.", "target")
    internal = [a for a in readable_articles(session, actor, collection) if a.audience == "internal"]
    outsiders = [p.name for p in people if p.role not in STAFF]
    if internal and outsiders:
        raise ValidationError(f"{', '.join(outsiders)} cannot read the internal articles in this collection.",
                              "target")
    target = (CollectionAssignment.team_id == team.id) if team else (CollectionAssignment.user_id == user.id)
    assignment = session.scalar(select(CollectionAssignment).where(
        CollectionAssignment.collection_id == collection.id, target))
    if assignment is None:
        assignment = CollectionAssignment(collection_id=collection.id, user_id=user.id if user else None,
                                          team_id=team.id if team else None, created_at=now)
        session.add(assignment)
    assignment.due_at, assignment.assigned_by_id = due_at, actor.id
    session.flush()
    due = f", due {due_at:%Y-%m-%d}" if due_at else ""
    for person in people:
        notify(session, person.id, KIND, f"You were assigned the learning path “{collection.title}”{due}. "
               "Find it under My learning.", now=now,
               links=[("Open the learning path", f"/collections/{collection.id}"), ("My learning", "/learning/")])
    return assignment


def list_assignments(session: Session, actor, collection: Collection) -> list[CollectionAssignment]:
    _curator(actor)
    return list(session.scalars(select(CollectionAssignment).where(
        CollectionAssignment.collection_id == collection.id).order_by(CollectionAssignment.created_at)))


def remove_assignment(session: Session, actor, collection: Collection, assignment_id) -> None:
    _curator(actor)
    a = session.get(CollectionAssignment, assignment_id) if isinstance(assignment_id, int) else None
    if a is None or a.collection_id != collection.id:
        raise NotFound("We could not find that assignment.")
    session.delete(a)
    session.flush()


def _due_by_collection(session: Session, user) -> dict[int, datetime | None]:
    """The collections assigned to ``user`` directly or through a team, with the earliest due date."""
    teams = team_ids_of(session, user)
    conds = [CollectionAssignment.user_id == user.id]
    if teams:
        conds.append(CollectionAssignment.team_id.in_(teams))
    out: dict[int, datetime | None] = {}
    for a in session.scalars(select(CollectionAssignment).where(or_(*conds))):
        if a.collection_id not in out:
            out[a.collection_id] = a.due_at
        else:
            out[a.collection_id] = min((d for d in (out[a.collection_id], a.due_at) if d), default=None)
    return out


# ------------------------------------------------------------------- progress
def progress_of(session: Session, user, collection: Collection) -> dict[int, LearningProgress]:
    return {p.article_id: p for p in session.scalars(select(LearningProgress).where(
        LearningProgress.user_id == user.id, LearningProgress.collection_id == collection.id))}


def _entry(session: Session, user, collection: Collection, due_at, now) -> LearningEntry:
    readable = {a.id for a in readable_articles(session, user, collection)}
    marks = [p for p in progress_of(session, user, collection).values() if p.article_id in readable]
    done = sum(1 for p in marks if p.done_at and not p.outdated)
    outdated = sum(1 for p in marks if p.done_at and p.outdated)
    times = [t for p in marks for t in (p.opened_at, p.done_at) if t]
    return LearningEntry(collection, done, len(readable), outdated, due_at,
                         bool(due_at and due_at < now and done < len(readable)), max(times) if times else None)


def my_learning(session: Session, actor, now: datetime | None = None) -> list[LearningEntry]:
    """The published collections assigned to ``actor``: overdue first, then by due date."""
    if actor is None:
        return []
    now = now or utcnow()
    due = _due_by_collection(session, actor)
    found = session.scalars(select(Collection).where(Collection.id.in_(list(due)),
                                                     Collection.status == "published")) if due else []
    entries = [_entry(session, actor, c, due[c.id], now) for c in found]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(entries, key=lambda e: (not e.overdue, e.due_at or far, e.collection.title.casefold()))


def has_learning(session: Session, actor) -> bool:
    return actor is not None and bool(_due_by_collection(session, actor))


def available_collections(session: Session, actor) -> list[Collection]:
    """Published collections whose audience names the actor's role or one of their teams,
    and that nobody assigned to them (those are in :func:`my_learning`)."""
    if actor is None:
        return []
    assigned, teams = set(_due_by_collection(session, actor)), team_ids_of(session, actor)
    return [c for c in session.scalars(select(Collection).where(Collection.status == "published")
                                       .order_by(Collection.title))
            if c.id not in assigned and (str(actor.role) in (c.audience_roles or "").split(",")
                                         or c.audience_team_id in teams)]


def _mark(session: Session, actor, collection: Collection, article_id) -> LearningProgress:
    if not may_view(session, actor, collection):
        raise NotFound("We could not find that collection.")
    if article_id not in {a.id for a in readable_articles(session, actor, collection)}:
        raise NotFound("That article is not a step of this collection.")
    p = session.get(LearningProgress, (actor.id, collection.id, article_id))
    if p is None:
        p = LearningProgress(user_id=actor.id, collection_id=collection.id, article_id=article_id, outdated=False)
        session.add(p)
    return p


def mark_opened(session: Session, actor, collection: Collection, article_id, now: datetime | None = None
                ) -> LearningProgress:
    p = _mark(session, actor, collection, article_id)
    p.opened_at = p.opened_at or now or utcnow()
    session.flush()
    return p


def mark_done(session: Session, actor, collection: Collection, article_id, done: bool = True,
              now: datetime | None = None) -> LearningProgress:
    """Done at the article's current revision (clears ``outdated``); ``done=False`` undoes it."""
    p = _mark(session, actor, collection, article_id)
    now = now or utcnow()
    if done:
        p.opened_at = p.opened_at or now
        p.done_at = now
        p.done_revision = session.scalar(select(func.max(ArticleRevision.number))
                                         .where(ArticleRevision.article_id == article_id))
    else:
        p.done_at = p.done_revision = None
    p.outdated = False
    session.flush()
    return p


def collection_progress(session: Session, actor, collection: Collection, now: datetime | None = None
                        ) -> list[LearnerRow]:
    """Every assigned learner (directly or through a team) and anyone who started it."""
    _curator(actor)
    now = now or utcnow()
    due: dict[int, datetime | None] = {}
    for a in list_assignments(session, actor, collection):
        ids = [a.user_id] if a.user_id else session.scalars(select(TeamMember.user_id)
                                                             .where(TeamMember.team_id == a.team_id))
        for uid in ids:
            due[uid] = min((d for d in (due.get(uid), a.due_at) if d), default=None)
    started = session.scalars(select(LearningProgress.user_id).where(
        LearningProgress.collection_id == collection.id).distinct())
    ids = set(due) | set(started)
    users = session.scalars(select(User).where(User.id.in_(ids)).order_by(User.name)) if ids else []
    return [LearnerRow(u, _entry(session, u, collection, due.get(u.id), now)) for u in users]


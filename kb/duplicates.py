"""Duplicate and outage detection: "N colleagues reported this" while a requester describes
a problem, and "Add me to this issue" instead of a new ticket.

People affected by a root (see :mod:`kb.ticket_grouping` for the flat parent/children
tree) are its requester (not a staff member who declared an incident), the requesters of
its children and its followers. Only recent open tickets are compared: the SQL filter on
``created_at``/``status`` runs before any vector is read.

Privacy: a requester is shown other people's reports only as a count and a public-safe
label: an incident's title (written by staff for everyone), otherwise the ticket's
category, never a requester's own title. Joining follows the root, whose public thread
followers may read (:func:`kb.permissions.can_view_ticket`), so a join is only accepted for
a root that :func:`find_reports` offers for the same text (it is checked again).
Restricted tickets (complaints) are never offered.

The grouping services (:func:`mark_duplicate`, :func:`merge_tickets`,
:func:`declare_incident`, ...) live in :mod:`kb.ticket_grouping` and are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from kb import permissions, ticket_similarity
from kb.channel_models import TicketFollower
from kb.db import utcnow
from kb.errors import NotFound
from kb.notifications import notify, ticket_path
from kb.taxonomy import Category
from kb.ticket_events import FOLLOWER, POSSIBLE_DUPLICATE, record_event
from kb.ticket_flow import CANCELLED, OPEN_STATUSES
from kb.ticket_grouping import (Grouping, add_to_incident, declare_incident, follow, followed_tickets,  # noqa: F401
                                grouping_of, mark_duplicate, merge_tickets, resolve_children, resolve_reference,
                                root_of)
from kb.tickets import Ticket

# Measured with `.venv/bin/python -m bench.duplicates` on stackfaq/duplicate_pairs.tsv with
# all-MiniLM-L6-v2 (docs/benchmarks.md, "Duplicate detection"): the lowest threshold whose
# precision stays >= 0.90 when only 1 candidate in 20 is really the same problem. There:
# precision 0.994, recall 0.917 (balanced set), false-positive rate 0.53 %. Another model
# needs its own measurement.
THRESHOLD = 0.54
MIN_REPORTS = 2          # the notice appears from this many affected colleagues
WINDOW_HOURS = 24        # default look-back; the portal passes DUPLICATE_WINDOW_HOURS
MAX_REPORTS = 3          # clusters shown at once
MIN_TEXT = 8             # characters typed before looking (a word or two says nothing yet)
SCAN_LIMIT = 5000        # recent open tickets compared per query (SQL-filtered first)


@dataclass(frozen=True)
class Report:
    """A cluster of recent open reports of one problem, as the intake page shows it."""
    root_id: int
    title: str | None            # the incident's title; None for plain tickets (use the category)
    category: Category | None
    is_incident: bool
    count: int                   # distinct affected people, the asking person not included
    following: bool              # the asking person already follows the root
    first_at: datetime           # the oldest matching report in the window
    latest_at: datetime
    score: float


def _affected(session: Session, root: Ticket) -> tuple[set[int], set[int]]:
    """(requesters, followers) of a root and its children."""
    requesters = set(session.scalars(select(Ticket.requester_id).where(Ticket.parent_id == root.id,
                                                                      Ticket.status != CANCELLED)))
    if not (root.is_incident and permissions.is_staff(root.requester)):
        requesters.add(root.requester_id)
    followers = set(session.scalars(select(TicketFollower.user_id).where(TicketFollower.ticket_id == root.id)))
    return requesters, followers


def find_reports(session: Session, actor, text: str, embedder, *, hours: int = WINDOW_HOURS,
                 threshold: float = THRESHOLD, min_reports: int = MIN_REPORTS, limit: int | None = MAX_REPORTS,
                 now: datetime | None = None) -> list[Report]:
    """Clusters of open tickets filed in the last ``hours`` that read like ``text``, most
    affected first. Each incident is its own cluster; every other match is one cluster
    (they all read like the same text) whose root is the one most people are attached to.
    The actor's own tickets never match, and a cluster they already reported is not shown."""
    if not permissions.can_file_ticket(actor) or embedder is None:
        return []
    query = ticket_similarity.embedding_text(text)
    if len(query) < MIN_TEXT:
        return []
    now = now or utcnow()
    # The window first, through the created_at index (coalesce() keeps SQLite off the status
    # index, which would read every open ticket); only those tickets' vectors are read.
    t = aliased(Ticket)
    recent = select(t.id).where(t.created_at >= now - timedelta(hours=hours), t.restricted.is_(False),
                                func.coalesce(t.status, "").in_(sorted(OPEN_STATUSES)), t.requester_id != actor.id)
    ranked = ticket_similarity.nearest(session, ticket_similarity.encode(embedder, query), model=embedder.name,
                                       limit=SCAN_LIMIT, restrict_to=Ticket.id.in_(recent))
    hits = [(tid, score) for tid, score in ranked if score >= threshold]
    if not hits:
        return []
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_([i for i, _ in hits])))}
    groups: dict[int, tuple[Ticket, list]] = {}
    for tid, score in hits:
        root = root_of(session, tickets[tid])
        if not root.restricted:
            groups.setdefault(root.id, (root, []))[1].append((tickets[tid], score))
    clusters = [[g] for g in groups.values() if g[0].is_incident]
    plain = [g for g in groups.values() if not g[0].is_incident]
    if plain:
        clusters.append(plain)
    reports = [r for r in (_report(session, actor, c, min_reports) for c in clusters) if r is not None]
    reports.sort(key=lambda r: (-r.count, -r.score, r.root_id))
    return reports if limit is None else reports[:limit]


def _report(session: Session, actor, cluster, min_reports: int) -> Report | None:
    people: dict[int, tuple[set[int], set[int]]] = {root.id: _affected(session, root) for root, _ in cluster}
    requesters = set().union(*(r for r, _ in people.values()))
    if actor.id in requesters:
        return None  # they reported it already
    target, _hits = max(cluster, key=lambda g: (len(set().union(*people[g[0].id])), -g[0].created_at.timestamp()))
    everyone = requesters.union(*(f for _, f in people.values())) - {actor.id}
    if len(everyone) < min_reports:
        return None
    hits = [h for _, group in cluster for h in group]
    times = [t.created_at for t, _ in hits]
    return Report(root_id=target.id, title=target.title if target.is_incident else None,
                  category=target.subcategory or target.category, is_incident=target.is_incident,
                  count=len(everyone), following=actor.id in people[target.id][1], first_at=min(times),
                  latest_at=max(times), score=max(s for _, s in hits))


def join_issue(session: Session, actor, root_ticket_id: int, text: str, embedder, *, hours: int = WINDOW_HOURS,
               threshold: float = THRESHOLD, min_reports: int = MIN_REPORTS,
               now: datetime | None = None) -> tuple[Ticket, bool]:
    """"Add me to this issue": the actor follows the root (and gets its updates) instead of
    filing a ticket. ``text`` is what they described: the root must be one that
    :func:`find_reports` offers for it. Idempotent: returns ``(root, joined now?)``."""
    permissions.require(permissions.can_file_ticket(actor), "Log in to add yourself to an issue.")
    root = session.get(Ticket, root_ticket_id)
    if root is not None and session.get(TicketFollower, (root.id, actor.id)) is not None:
        return root, False
    offered = find_reports(session, actor, text, embedder, hours=hours, threshold=threshold,
                           min_reports=min_reports, limit=None, now=now)
    report = next((r for r in offered if r.root_id == root_ticket_id), None)
    if root is None or report is None:
        raise NotFound("That issue is closed, or it does not match what you described. Please file a ticket.")
    now = now or utcnow()
    follow(session, root, actor.id, now=now)
    record_event(session, actor, root, FOLLOWER, data={"action": "joined", "user_id": actor.id}, now=now)
    if root.assignee_id is not None:
        notify(session, root.assignee_id, "update",
               f"{actor.name} is affected too and now follows {root.reference} ({report.count + 1} people).",
               ticket=root, now=now, links=[("Open the ticket", ticket_path(root))])
    return root, True


def flag_possible_duplicates(session: Session, ticket: Ticket, embedder, *, hours: int = WINDOW_HOURS,
                             now: datetime | None = None) -> list[Report]:
    """For a ticket that came in without a person looking at the intake page (an email):
    when it reads like recent open reports, write a staff-only event naming them, so the
    agent can mark it a duplicate or add it to the incident in one step. A hint, never an
    automatic merge: the threshold is tuned for precision, not certainty."""
    requester = session.get(type(ticket.requester), ticket.requester_id)
    reports = find_reports(session, requester, ticket.text, embedder, hours=hours, min_reports=1, now=now)
    if reports:
        roots = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_([r.root_id for r in reports])))}
        record_event(session, None, ticket, POSSIBLE_DUPLICATE, now=now, data={"candidates": [
            {"id": r.root_id, "reference": roots[r.root_id].reference, "affected": r.count,
             "incident": r.is_incident, "score": round(r.score, 3)} for r in reports]})
    return reports

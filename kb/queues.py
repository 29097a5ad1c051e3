"""The agent desk's queues: one WHERE clause each over open tickets, counted and listed.

Every queue starts from ``status IN OPEN_STATUSES`` plus one selective column, so an
index declared on :class:`kb.tickets.Ticket` serves it (``bench/queue_timing.py`` shows
the plans and times at 100,000 tickets). Restricted tickets (complaints about the service)
are removed in SQL for anyone who may not see them, so counts and pages agree with
:func:`kb.permissions.can_view_ticket`.

Scope: agents work their own tickets and their teams' (membership, or leading the team);
team leads and admins, who assign and rebalance, see every team in the shared queues.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from sqlalchemy import case, false, func, or_, select, union
from sqlalchemy.orm import Session, selectinload

from kb import permissions
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.pagination import Paged
from kb.routing import AgentLoad, agent_loads
from kb.teams import Team, TeamMember
from kb.ticket_flow import OPEN_STATUSES, STATUSES
from kb.tickets import PRIORITY_KEYS, REFERENCE_PREFIX, Ticket

QUEUES = ("mine", "team", "unassigned", "breaching", "breached", "all_open")
LEAD_QUEUES = frozenset({"all_open"})
SORTS = ("due", "priority", "created", "updated")
DIRECTIONS = ("asc", "desc")
DEFAULT_DIRECTION = {"due": "asc", "priority": "asc", "created": "desc", "updated": "desc"}
BREACHING_HOURS = 4
MAX_PER_PAGE = 100
MAX_PAGES = 400          # OFFSET stays under 40,000 rows; filters narrow anything longer
MAX_WORDS = 6
# Stable order for IN (...): the same SQL text every time, so statement caches hit.
_OPEN = tuple(s for s in STATUSES if s in OPEN_STATUSES)
_REFERENCE_RE = re.compile(rf"^\s*{REFERENCE_PREFIX}-(\d{{4}})-(\d{{1,9}})\s*$", re.IGNORECASE)
_PRIORITY_RANK = case({"high": 0, "medium": 1, "low": 2}, value=Ticket.priority, else_=3)
_RESTRICTED_PROBE = SimpleNamespace(requester_id=None, restricted=True)


@dataclass
class QueuePage(Paged):
    """One page of a queue, shaped like Flask-SQLAlchemy's pagination (the ``pager`` macro reads it)."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return min(super().pages, MAX_PAGES)


@dataclass(frozen=True)
class _Scope:
    user_id: int
    team_ids: tuple[int, ...]
    all_teams: bool         # leads and admins: every team in the shared queues
    sees_restricted: bool


def sees_all_teams(actor) -> bool:
    """Those who assign and rebalance (leads, admins) look after every team's queue."""
    return permissions.can_assign_ticket(actor)


def available_queues(actor) -> tuple[str, ...]:
    if not permissions.can_use_desk(actor):
        return ()
    return QUEUES if sees_all_teams(actor) else tuple(q for q in QUEUES if q not in LEAD_QUEUES)


def my_team_ids(session: Session, actor) -> list[int]:
    """Teams the actor is a member of or leads."""
    stmt = union(select(TeamMember.team_id).where(TeamMember.user_id == actor.id),
                 select(Team.id).where(Team.lead_id == actor.id))
    return sorted(session.scalars(stmt))


def _scope(session: Session, actor) -> _Scope:
    permissions.require(permissions.can_use_desk(actor), "The desk is for agents, team leads and admins.")
    # The restricted-ticket rule itself lives in can_view_ticket: ask it about a
    # restricted ticket this actor did not file.
    return _Scope(user_id=actor.id, team_ids=tuple(my_team_ids(session, actor)),
                  all_teams=sees_all_teams(actor),
                  sees_restricted=permissions.can_view_ticket(actor, _RESTRICTED_PROBE))


def _check_queue(scope: _Scope, name: str) -> None:
    if name not in QUEUES:
        raise NotFound(f"There is no queue called {name!r}. The queues are: {', '.join(QUEUES)}.")
    permissions.require(scope.all_teams or name not in LEAD_QUEUES,
                        "That queue is for team leads and admins.")


def _where(scope: _Scope, name: str, now: datetime, hours: float) -> list:
    """The conditions of one queue for one actor."""
    conds = [Ticket.status.in_(_OPEN)]
    if not scope.sees_restricted:
        conds.append(Ticket.restricted == false())
    mine_or_teams = or_(Ticket.team_id.in_(scope.team_ids), Ticket.assignee_id == scope.user_id)
    if name == "mine":
        conds.append(Ticket.assignee_id == scope.user_id)
    elif name == "team":
        conds.append(Ticket.team_id.in_(scope.team_ids))
    elif name == "unassigned":
        conds.append(Ticket.assignee_id.is_(None))
        if not scope.all_teams:
            conds.append(Ticket.team_id.in_(scope.team_ids))
    elif name == "breaching":
        # Due within the window and not yet marked breached; a due time already past but not
        # yet marked by the scheduler stays here, so nothing falls between two queues.
        # coalesce() keeps SQLite off ix_ticket_breached_at: "IS NULL" looks selective to the
        # planner but matches nearly every ticket; the due-time range on ix_ticket_status_due
        # is what narrows this queue (page 60 -> 12 ms at 100k, see docs/benchmarks.md).
        conds += [func.coalesce(Ticket.breached_at, None).is_(None),
                  Ticket.next_due_at <= now + timedelta(hours=hours)]
        if not scope.all_teams:
            conds.append(mine_or_teams)
    elif name == "breached":
        conds.append(Ticket.breached_at.is_not(None))
        if not scope.all_teams:
            conds.append(mine_or_teams)
    return conds


def queue_counts(session: Session, actor, now: datetime | None = None, *,
                 breaching_hours: float = BREACHING_HOURS) -> dict[str, int]:
    """Tickets in each queue this actor has, for the tab labels. One COUNT per queue: each
    can use its own index, which a single CASE over all open tickets could not."""
    scope = _scope(session, actor)
    now = now or utcnow()
    return {name: session.scalar(select(func.count()).select_from(Ticket)
                                 .where(*_where(scope, name, now, breaching_hours))) or 0
            for name in available_queues(actor)}


def _int(value, field: str, label: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if not 0 < number < 2**63:  # SQLite's integers; beyond them the driver would fail
        raise ValidationError(f"The {label} filter must be a number, not {value!r}.", field)
    return number


def _filters(status, priority, category_id, team_id, assignee_id, q) -> list:
    conds = []
    if status:
        if status not in OPEN_STATUSES:
            raise ValidationError(f"Queues hold open tickets; {status!r} is not an open status "
                                  f"(choose one of {', '.join(_OPEN)}).", "status")
        conds.append(Ticket.status == status)
    if priority:
        if priority not in PRIORITY_KEYS:
            raise ValidationError(f"Unknown priority {priority!r}; choose one of {', '.join(PRIORITY_KEYS)}.",
                                  "priority")
        conds.append(Ticket.priority == priority)
    if (cat := _int(category_id, "category_id", "category")) is not None:
        conds.append(or_(Ticket.category_id == cat, Ticket.subcategory_id == cat))
    if (team := _int(team_id, "team_id", "team")) is not None:
        conds.append(Ticket.team_id == team)
    if (who := _int(assignee_id, "assignee_id", "assignee")) is not None:
        conds.append(Ticket.assignee_id == who)
    conds += _search(q)
    return conds


def _search(q: str | None) -> list:
    """A reference (HD-2026-000123) finds that ticket; anything else: all words in the title."""
    q = (q or "").strip()
    if not q:
        return []
    if match := _REFERENCE_RE.match(q):
        year = int(match.group(1))
        if not 1970 <= year < 9999:
            return [false()]
        start = datetime(year, 1, 1, tzinfo=timezone.utc)
        return [Ticket.id == int(match.group(2)), Ticket.created_at >= start,
                Ticket.created_at < start.replace(year=year + 1)]
    words = q.split()[:MAX_WORDS]
    return [Ticket.title.ilike("%" + _escape_like(w) + "%", escape="\\") for w in words]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _order(sort: str, direction: str | None) -> list:
    if sort not in SORTS:
        raise ValidationError(f"Cannot sort by {sort!r}; choose one of {', '.join(SORTS)}.", "sort")
    direction = direction or DEFAULT_DIRECTION[sort]
    if direction not in DIRECTIONS:
        raise ValidationError(f"The direction must be 'asc' or 'desc', not {direction!r}.", "direction")
    # Breached first, then the nearest due time, tickets without a running clock last.
    due = [Ticket.breached_at.is_(None), Ticket.next_due_at.is_(None), Ticket.next_due_at]
    keys = {"due": due, "priority": [_PRIORITY_RANK, *due],
            "created": [Ticket.created_at], "updated": [Ticket.updated_at]}[sort] + [Ticket.id]
    if direction == "desc":
        return [k.desc() for k in keys]
    return [k.asc() for k in keys]


def list_queue(session: Session, actor, name: str, *, page: int = 1, per_page: int = 25, sort: str = "due",
               direction: str | None = None, status: str | None = None, priority: str | None = None,
               category_id=None, team_id=None, assignee_id=None, q: str | None = None,
               now: datetime | None = None, breaching_hours: float = BREACHING_HOURS,
               total: int | None = None) -> QueuePage:
    """One page of a queue. Bad names raise NotFound, bad sorts and filters ValidationError
    (nothing is guessed); a page past the end is simply empty. ``total`` is the queue's size
    when the caller has just counted it (:func:`queue_counts`); it is used only when no
    filter narrows the queue, and saves counting twice."""
    scope = _scope(session, actor)
    _check_queue(scope, name)
    now = now or utcnow()
    order = _order(sort, direction)
    filters = _filters(status, priority, category_id, team_id, assignee_id, q)
    conds = _where(scope, name, now, breaching_hours) + filters
    try:
        page = max(int(page or 1), 1)
        per_page = min(max(int(per_page or 25), 1), MAX_PER_PAGE)
    except (TypeError, ValueError):
        raise ValidationError("The page must be a number.", "page") from None
    if total is None or filters:
        total = session.scalar(select(func.count()).select_from(Ticket).where(*conds)) or 0
    items = []
    if page <= MAX_PAGES and (page - 1) * per_page < total:
        # selectinload, not joinedload: SQLite would join every matching row before
        # sorting; this way only the page's 25 rows look up their people and labels.
        stmt = (select(Ticket).where(*conds).order_by(*order).offset((page - 1) * per_page).limit(per_page)
                .options(selectinload(Ticket.requester), selectinload(Ticket.assignee),
                         selectinload(Ticket.team), selectinload(Ticket.category)))
        items = list(session.scalars(stmt))
    return QueuePage(items=items, page=page, per_page=per_page, total=total)


def due_state(ticket, now: datetime | None = None, breaching_hours: float = BREACHING_HOURS) -> str | None:
    """"breached" (marked, or past due), "breaching" (within the window), "ok", or None
    when no clock is running: what the desk colours the due time by."""
    now = now or utcnow()
    if ticket.breached_at is not None or (ticket.next_due_at is not None and ticket.next_due_at <= now):
        return "breached"
    if ticket.next_due_at is None:
        return None
    return "breaching" if ticket.next_due_at <= now + timedelta(hours=breaching_hours) else "ok"


@dataclass
class WorkloadRow:
    load: AgentLoad         # kb.routing's figures: open count, weighted load, capacity, utilisation
    breached: int

    @property
    def overloaded(self) -> bool:
        return self.load.utilisation > 1.0


def workload(session: Session, actor, team_id: int | None = None) -> list[WorkloadRow]:
    """Each agent's load and open breached tickets, busiest first (leads and admins)."""
    permissions.require(permissions.can_assign_ticket(actor), "Workload is for team leads and admins.")
    loads = agent_loads(session, team_id=team_id)
    ids = [a.user.id for a in loads]
    breached = {uid: n for uid, n in session.execute(
        select(Ticket.assignee_id, func.count()).where(Ticket.assignee_id.in_(ids), Ticket.status.in_(_OPEN),
                                                       Ticket.breached_at.is_not(None))
        .group_by(Ticket.assignee_id))} if ids else {}
    rows = [WorkloadRow(a, breached.get(a.user.id, 0)) for a in loads]
    return sorted(rows, key=lambda r: (-r.load.utilisation, r.load.user.name, r.load.user.id))


__all__ = ["QUEUES", "SORTS", "BREACHING_HOURS", "QueuePage", "WorkloadRow", "available_queues", "due_state",
           "list_queue", "my_team_ids", "queue_counts", "sees_all_teams", "workload"]

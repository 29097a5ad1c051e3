"""Agent and team performance, accountability and recognition (issue 6).

**Performance** per agent, for the tickets filed in the period that the agent holds now:
tickets handled, resolved and reopened, median business minutes to first response and to
resolution, SLA compliance (met / decided, as :mod:`kb.insight_sla` counts it), satisfaction
(the surveys answered in the period for that agent), articles written and the deflections
of those articles that held. One grouped statement per figure. An agent's row is visible to
the agent, to admins, and to the leads of the agent's teams
(:func:`kb.permissions.can_view_performance`).

**Accountability** lists what went wrong with the person responsible: an SLA target missed
(the assignee at the breach instant, read from the assignment events; the team's lead when
nobody held it), a promised completion time passed on an open ticket, and a ticket assigned
but not acknowledged for :data:`ACK_AFTER`. Each item carries its event trail.

**Recognition** names the period's best-rated agents (at least :data:`MIN_ANSWERS` answers)
and the articles whose deflections held most, with their authors.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.articles_models import Article
from kb.db import utcnow
from kb.insight_figures import count_if
from kb.insight_satisfaction import Rating, agent_ratings, ratings
from kb.insight_self_service import ArticleDeflections, deflections_by_article, top_articles
from kb.insight_sla import CLOCKS, clock_counts, clock_percentiles
from kb.insights import Filters, scope
from kb.teams import Team, TeamMember
from kb.ticket_events import ASSIGNED, TRANSFERRED, TicketEvent
from kb.ticket_flow import ASSIGNED as S_ASSIGNED
from kb.ticket_flow import OPEN_STATUSES
from kb.tickets import Ticket
from kb.users import User

ACK_AFTER = timedelta(hours=4)
MIN_ANSWERS = 3
TRAIL_EVENTS = 12
MAX_ITEMS = 50


@dataclass(frozen=True)
class AgentFigures:
    agent_id: int
    name: str
    handled: int
    resolved: int
    reopened: int
    response_median: float | None     # business minutes
    resolution_median: float | None
    met: dict[str, int]
    missed: dict[str, int]
    rating: Rating | None
    articles: int                     # articles the agent wrote (any time, not archived)
    deflections: int                  # deflections in the period by those articles that held

    def compliance(self, clock: str) -> float | None:
        decided = self.met[clock] + self.missed[clock]
        return self.met[clock] / decided if decided else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None


def lead_ids_of(session: Session, agent_ids) -> dict[int, set[int]]:
    """{agent id: the leads of the agent's teams}."""
    out: dict[int, set[int]] = {}
    for user_id, lead_id in session.execute(select(TeamMember.user_id, Team.lead_id)
                                            .join(Team, Team.id == TeamMember.team_id)
                                            .where(TeamMember.user_id.in_(list(agent_ids)))):
        if lead_id is not None:
            out.setdefault(user_id, set()).add(lead_id)
    return out


def agent_performance(session: Session, actor, f: Filters, *, agent_id: int | None = None) -> list[AgentFigures]:
    """The rows the actor may see (one agent with ``agent_id``), most tickets handled first."""
    conds = [*scope(f), Ticket.assignee_id.is_not(None)]
    if agent_id is not None:
        conds.append(Ticket.assignee_id == agent_id)
    resolved = Ticket.resolved_at.is_not(None) | Ticket.closed_at.is_not(None) | (Ticket.reopen_count > 0)
    rows = session.execute(select(Ticket.assignee_id, func.count(Ticket.id), count_if(resolved),
                                  count_if(Ticket.reopen_count > 0), *clock_counts())
                           .where(*conds).group_by(Ticket.assignee_id)).all()
    ids = [r[0] for r in rows]
    if agent_id is not None and agent_id not in ids:
        ids.append(agent_id)
    leads = lead_ids_of(session, ids)
    visible = [i for i in ids if permissions.can_view_performance(actor, i, leads.get(i, ()))]
    if not visible:
        return []
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(visible))).all())
    times = clock_percentiles(session, conds, Ticket.assignee_id)
    rated = {r.id: r for r in agent_ratings(session, f, visible)}
    written = dict(session.execute(select(Article.author_id, func.count(Article.id))
                                   .where(Article.author_id.in_(visible), Article.status != "archived")
                                   .group_by(Article.author_id)).all())
    per = deflections_by_article(f)
    held = dict(session.execute(select(Article.author_id, func.sum(per.c.deflected - per.c.failed))
                                .select_from(per).join(Article, Article.id == per.c.article_id)
                                .where(Article.author_id.in_(visible)).group_by(Article.author_id)).all())
    by_id = {r[0]: r for r in rows}
    out = []
    for i in visible:
        r = by_id.get(i, (i, 0, 0, 0, 0, 0, 0, 0))
        counts = [int(v) for v in r[4:8]]
        out.append(AgentFigures(
            agent_id=i, name=names.get(i, "?"), handled=int(r[1]), resolved=int(r[2]), reopened=int(r[3]),
            response_median=times["response"].get(i, (0, None, None))[1],
            resolution_median=times["resolution"].get(i, (0, None, None))[1],
            met={c: counts[2 * k] for k, c in enumerate(CLOCKS)}, missed={c: counts[2 * k + 1] for k, c in enumerate(CLOCKS)},
            rating=rated.get(i), articles=int(written.get(i, 0)), deflections=int(held.get(i, 0))))
    return sorted(out, key=lambda a: (-a.handled, a.name))


# -- accountability --------------------------------------------------------------------------
@dataclass
class Item:
    """Something that went wrong and who was responsible."""

    kind: str                      # "response breach", "resolution breach", "commitment missed", "not acknowledged"
    ticket: Ticket
    at: datetime                   # when it went wrong
    responsible_id: int | None
    responsible: str               # a name, or "" when nobody (the team had no lead)
    via_lead: bool = False         # nobody held the ticket: its team's lead answers for it
    trail: list = field(default_factory=list)  # TicketEvent rows, oldest first


def _holder_at(events: list, at: datetime, fallback: int | None) -> int | None:
    """The assignee after the last assignment or transfer at or before ``at``."""
    holder = None
    seen = False
    for ev in events:
        if ev.created_at > at:
            break
        if ev.kind in (ASSIGNED, TRANSFERRED):
            try:
                holder = json.loads(ev.data or "{}").get("assignee_id")
            except ValueError:
                continue
            seen = True
    return holder if seen else fallback


def accountability(session: Session, actor, f: Filters, *, now: datetime | None = None,
                   limit: int = MAX_ITEMS) -> list[Item]:
    """The newest problems first: breaches of tickets filed in the period, and open tickets
    (any filing date, same team/category/channel) whose promise or acknowledgement is late."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    now = now or utcnow()
    found: list[tuple[str, Ticket, datetime]] = []
    for clock in CLOCKS:
        column = getattr(Ticket, f"{clock}_breached_at")
        # the newest breaches' ids first (narrow rows to sort), then only those tickets
        newest = select(Ticket.id).where(*scope(f), column.is_not(None)).order_by(column.desc()).limit(limit)
        for t in session.scalars(select(Ticket).where(Ticket.id.in_(newest)).order_by(column.desc())):
            found.append((f"{clock} breach", t, getattr(t, f"{clock}_breached_at")))
    open_ = [Ticket.status.in_(sorted(OPEN_STATUSES)), *scope(f, period=False)]
    for t in session.scalars(select(Ticket).where(*open_, Ticket.expected_completion_at < now)
                             .order_by(Ticket.expected_completion_at.desc()).limit(limit)):
        found.append(("commitment missed", t, t.expected_completion_at))
    for t in session.scalars(select(Ticket).where(*open_, Ticket.status == S_ASSIGNED,
                                                  Ticket.updated_at < now - ACK_AFTER)
                             .order_by(Ticket.updated_at.desc()).limit(limit)):
        found.append(("not acknowledged", t, t.updated_at + ACK_AFTER))
    found.sort(key=lambda x: x[2], reverse=True)
    found = [x for x in found if permissions.can_view_ticket(actor, x[1])][:limit]
    ticket_ids = list({t.id for _, t, _ in found})
    history: dict[int, list] = {}
    for ev in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids))
                              .order_by(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id)):
        history.setdefault(ev.ticket_id, []).append(ev)
    teams = {t.id: t for t in session.scalars(select(Team))}
    items = []
    for kind, t, at in found:
        events = history.get(t.id, [])
        holder = _holder_at(events, at, t.assignee_id) if kind.endswith("breach") else t.assignee_id
        via_lead = holder is None
        if via_lead and t.team_id in teams:
            holder = teams[t.team_id].lead_id
        items.append(Item(kind=kind, ticket=t, at=at, responsible_id=holder, responsible="", via_lead=via_lead,
                          trail=[e for e in events if e.created_at <= max(at, now)][-TRAIL_EVENTS:]))
    names = dict(session.execute(select(User.id, User.name).where(
        User.id.in_({i.responsible_id for i in items if i.responsible_id}))).all()) if items else {}
    for item in items:
        item.responsible = names.get(item.responsible_id, "")
    return items


# -- recognition -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recognition:
    agents: list[Rating]                 # best-rated first, at least MIN_ANSWERS answers
    articles: list[ArticleDeflections]   # held deflections first, with authors


def recognition(session: Session, actor, f: Filters, *, limit: int = 5) -> Recognition:
    best = sorted((r for r in ratings(session, actor, f, by="agent") if r.answers >= MIN_ANSWERS and r.id),
                  key=lambda r: (-r.overall, -r.answers))
    return Recognition(agents=best[:limit], articles=[a for a in top_articles(session, f, limit) if a.held > 0])


@dataclass(frozen=True)
class PeopleTable:
    """Agent rows as a table (CSV)."""

    agents: list[AgentFigures]

    def rows(self) -> list[list]:
        def fmt(v, digits=1):
            return "" if v is None else round(v, digits)

        out = [["agent", "tickets handled", "resolved", "reopen rate", "median first response (business min)",
                "median resolution (business min)", "response compliance", "resolution compliance", "survey answers",
                "satisfaction (mean of 3)", "articles written", "deflections that held"]]
        for a in self.agents:
            out.append([a.name, a.handled, a.resolved, fmt(a.reopen_rate, 4), fmt(a.response_median),
                        fmt(a.resolution_median), fmt(a.compliance("response"), 4), fmt(a.compliance("resolution"), 4),
                        a.rating.answers if a.rating else 0, fmt(a.rating.overall if a.rating else None, 2),
                        a.articles, a.deflections])
        return out


@dataclass(frozen=True)
class ItemTable:
    """Accountability items as a table (CSV): what, which ticket, when, who."""

    items: list[Item]

    def rows(self) -> list[list]:
        out = [["what", "ticket", "title", "when (UTC)", "responsible", "via the team lead"]]
        out += [[i.kind, i.ticket.reference, i.ticket.title, i.at.isoformat(timespec="minutes"), i.responsible,
                 "yes" if i.via_lead else ""] for i in self.items]
        return out

"""Who gets a ticket: the team that owns its category, then within the team a skilled agent
with the least open weighted workload (round-robin on ties), and the lead's tools to
reassign and transfer.

Workload counts open tickets weighted by priority (:data:`WEIGHTS`); an agent's capacity
is in the same units, so ``utilisation = weighted_load / capacity`` and 1.0 means full.
Full agents are passed over while someone in the pool has room; when everyone is full
the least loaded still gets the ticket (a queue nobody owns is worse than a busy agent).

Service-attitude complaints (``ticket.restricted``) never go to an agent: they go to the
owning team's lead, or, when the complaint mentions that lead by name or address, to
another lead or an admin.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.notifications import notify, ticket_path
from kb.taxonomy import Category
from kb.teams import DEFAULT_CAPACITY, AgentProfile, AgentSkill, Team, TeamCategory, TeamMember
from kb.ticket_events import ASSIGNED, TRANSFERRED, record_event
from kb.ticket_flow import ASSIGNED as S_ASSIGNED, NEW, OPEN_STATUSES, apply_transition
from kb.tickets import Ticket
from kb.users import Role, User
from kb.validation import clean_text

WEIGHTS = {"high": 3, "medium": 2, "low": 1}
AGENT_ROLES = (Role.AGENT.value, Role.LEAD.value)
REASON_MAX = 2000


@dataclass
class AgentLoad:
    user: User
    team_ids: list[int]
    open_count: int
    weighted_load: float
    capacity: int
    utilisation: float
    languages: list[str]
    last_assigned_at: datetime | None


@dataclass
class RoutingDecision:
    team: Team | None
    assignee: User | None
    reason: str


def owning_team(session: Session, category: Category | None) -> Team | None:
    """The active team owning the category; a subcategory without its own owner uses its parent's."""
    while category is not None:
        team = session.scalar(select(Team).join(TeamCategory, TeamCategory.team_id == Team.id)
                              .where(TeamCategory.category_id == category.id, Team.active.is_(True)))
        if team is not None:
            return team
        category = category.parent
    return None


def agent_loads(session: Session, team_id: int | None = None) -> list[AgentLoad]:
    """Active agents and leads who belong to a team (to ``team_id`` if given), with their open
    weighted workload (one grouped query) and profile (defaults when they have none)."""
    stmt = (select(User, TeamMember.team_id).join(TeamMember, TeamMember.user_id == User.id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(User.active.is_(True), User.role.in_(AGENT_ROLES), Team.active.is_(True)))
    if team_id is not None:
        stmt = stmt.where(TeamMember.team_id == team_id)
    users: dict[int, User] = {}
    teams: dict[int, list[int]] = {}
    for user, tid in session.execute(stmt.order_by(User.id, TeamMember.team_id)):
        users[user.id] = user
        teams.setdefault(user.id, []).append(tid)
    if not users:
        return []
    weight = case(*((Ticket.priority == p, w) for p, w in WEIGHTS.items()), else_=WEIGHTS["medium"])
    load = {aid: (n, w) for aid, n, w in session.execute(
        select(Ticket.assignee_id, func.count(Ticket.id), func.sum(weight))
        .where(Ticket.assignee_id.in_(list(users)), Ticket.status.in_(list(OPEN_STATUSES)))
        .group_by(Ticket.assignee_id))}
    profiles = {p.user_id: p for p in session.scalars(
        select(AgentProfile).where(AgentProfile.user_id.in_(list(users))))}
    out = []
    for uid, user in users.items():
        n, w = load.get(uid, (0, 0))
        prof = profiles.get(uid)
        capacity = prof.capacity if prof else DEFAULT_CAPACITY
        out.append(AgentLoad(user, teams[uid], int(n), float(w or 0), capacity, float(w or 0) / capacity,
                             prof.language_list if prof else ["en"], prof.last_assigned_at if prof else None))
    return out


def _lang(code: str | None) -> str:
    return (code or "").split("-")[0].split("_")[0].lower()


def _mentions(ticket: Ticket, user: User) -> bool:
    """The text names the person: full name, first name (3+ letters) or email address, as whole
    words ("Leo" is not in "Leon"); a name in a script without spaces (李伟) as a substring."""
    text = f"{ticket.title}\n{ticket.description}".lower()
    name = user.name.strip().lower()
    if name and not name.isascii():
        return name in text or user.email.lower() in text
    parts = {name, user.email.lower(), *(w for w in name.split()[:1] if len(w) >= 3)}
    return any(p and re.search(rf"(?<![\w@.]){re.escape(p)}(?![\w@])", text) for p in parts)


def _pick_lead(session: Session, ticket: Ticket, team: Team) -> tuple[User | None, str]:
    """A complaint goes to the team lead, unless it is about them: then another lead or an admin."""
    lead = session.get(User, team.lead_id) if team.lead_id else None
    if lead is not None and lead.is_active and lead.id != ticket.requester_id and not _mentions(ticket, lead):
        return lead, f"complaint about service attitude: to the team lead {lead.name}, never to an agent"
    why = (f"the complaint mentions the team lead {lead.name}" if lead is not None and _mentions(ticket, lead)
           else "the team has no available lead")
    others = session.scalars(select(User).where(User.active.is_(True),
                                                User.role.in_((Role.LEAD.value, Role.ADMIN.value)),
                                                User.id != ticket.requester_id)
                             .order_by(case((User.role == Role.LEAD.value, 0), else_=1), User.id)).all()
    for other in others:
        if (lead is None or other.id != lead.id) and not _mentions(ticket, other):
            return other, f"complaint about service attitude; {why}, so to {other.role} {other.name}"
    return None, f"complaint about service attitude; {why} and no other lead or admin is available"


def _pick_agent(session: Session, ticket: Ticket, team: Team) -> tuple[User | None, list[str]]:
    pool = [a for a in agent_loads(session, team.id) if a.user.id != ticket.requester_id]
    if not pool:
        return None, ["nobody in the team can take it: left in the team queue"]
    notes = []
    category = ticket.subcategory or ticket.category
    if category is not None:
        wanted = {category.id, category.top.id}
        skilled_ids = set(session.scalars(select(AgentSkill.user_id).where(
            AgentSkill.category_id.in_(wanted), AgentSkill.user_id.in_([a.user.id for a in pool]))))
        skilled = [a for a in pool if a.user.id in skilled_ids]
        if skilled:
            pool, note = skilled, f"skilled in {category.name}"
        else:
            note = f"nobody is skilled in {category.name}, so any member"
        notes.append(note)
    lang = _lang(ticket.language)
    if lang:
        speakers = [a for a in pool if lang in {_lang(x) for x in a.languages}]
        if speakers:
            pool = speakers
            notes.append(f"speaks {lang}")
    room = [a for a in pool if a.utilisation < 1.0]
    if room:
        pool = room
    else:
        notes.append("everyone is at capacity")
    epoch = datetime.min.replace(tzinfo=utcnow().tzinfo)
    best = min(pool, key=lambda a: (a.weighted_load, a.last_assigned_at is not None,
                                    a.last_assigned_at or epoch, a.user.id))
    notes.append(f"least workload {best.weighted_load:.1f}/{best.capacity}")
    return best.user, notes


def _default_team(session: Session) -> Team | None:
    return session.scalar(select(Team).where(Team.active.is_(True)).order_by(Team.id).limit(1))


def choose(session: Session, ticket: Ticket) -> RoutingDecision:
    """Decide team and assignee without changing anything; the reason says why."""
    category = ticket.subcategory or ticket.category
    team = owning_team(session, category) if category is not None else None
    if team is not None:
        owned = f"{team.name} owns {category.name}"
    else:
        team = _default_team(session)
        if team is None:
            return RoutingDecision(None, None, "no active team: left unassigned")
        what = f"no team owns {category.name}" if category is not None else "no category"
        owned = f"{what}, so the default team {team.name} (the first active team)"
    if ticket.restricted:
        lead, why = _pick_lead(session, ticket, team)
        return RoutingDecision(team, lead, f"{owned}; {why}")
    agent, notes = _pick_agent(session, ticket, team)
    return RoutingDecision(team, agent, "; ".join([owned, *notes]))


def _stamp(session: Session, user: User, now: datetime) -> None:
    profile = session.get(AgentProfile, user.id)
    if profile is None:
        profile = AgentProfile(user_id=user.id, capacity=DEFAULT_CAPACITY, languages="en")
        session.add(profile)
    profile.last_assigned_at = now


def _people(team: Team | None, assignee: User | None) -> dict:
    return {"team_id": team.id if team else None, "team": team.name if team else None,
            "assignee_id": assignee.id if assignee else None, "assignee": assignee.name if assignee else None}


def _assign(session, actor, ticket, team, assignee, now, event_kind, data) -> None:
    ticket.team, ticket.assignee = team, assignee  # relationships and columns agree before the flush
    ticket.team_id, ticket.assignee_id = (team.id if team else None), (assignee.id if assignee else None)
    ticket.updated_at = now
    if assignee is not None:
        _stamp(session, assignee, now)
    record_event(session, actor, ticket, event_kind, data=data, now=now)
    if assignee is not None and (actor is None or assignee.id != actor.id):
        notify(session, assignee.id, "assigned", f"{ticket.reference} “{ticket.title}” was assigned to you "
               f"({ticket.priority} priority).", ticket=ticket, now=now, links=[("Open the ticket", ticket_path(ticket))])
    if assignee is not None and ticket.status == NEW:
        apply_transition(session, actor, ticket, S_ASSIGNED, data={"auto": True} if actor is None else None, now=now)


def route(session: Session, ticket: Ticket, now: datetime | None = None) -> RoutingDecision:
    """Assign a new ticket automatically (actor None in the audit trail)."""
    now = now or utcnow()
    decision = choose(session, ticket)
    if decision.team is None:
        return decision
    _assign(session, None, ticket, decision.team, decision.assignee, now, ASSIGNED,
            {**_people(decision.team, decision.assignee), "reason": decision.reason, "auto": True})
    return decision


def _check_lead(actor, ticket: Ticket, reason: str) -> str:
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    permissions.require(permissions.can_assign_ticket(actor, ticket),
                        "Only team leads and admins can reassign or transfer tickets.")
    return clean_text(reason, field="reason", limit=REASON_MAX, missing="Give a reason.")


def _eligible(session: Session, ticket: Ticket, team: Team, assignee_id: int) -> User:
    """An active agent/lead member of the team (or its lead); for a complaint, a lead or admin."""
    user = session.get(User, assignee_id)
    if user is None or not user.is_active:
        raise ValidationError("Choose an active member of the team.", "assignee_id")
    if ticket.restricted:
        if user.role not in (Role.LEAD.value, Role.ADMIN.value):
            raise ValidationError("A complaint about service attitude goes to a lead or an admin, never an agent.",
                                  "assignee_id")
        return user
    member = session.get(TeamMember, (team.id, user.id)) is not None or team.lead_id == user.id
    if user.role not in AGENT_ROLES or not member:
        raise ValidationError(f"{user.name} is not an agent or lead of {team.name}.", "assignee_id")
    return user


def reassign(session: Session, actor, ticket: Ticket, assignee_id: int, reason: str,
             now: datetime | None = None) -> None:
    """A lead gives the ticket to someone else in its team."""
    reason = _check_lead(actor, ticket, reason)
    if ticket.team is None:
        raise ValidationError("The ticket has no team yet: transfer it to a team first.", "team_id")
    if ticket.assignee_id == assignee_id:
        raise ValidationError("The ticket is already assigned to that person.", "assignee_id")
    user = _eligible(session, ticket, ticket.team, assignee_id)
    previous = ticket.assignee
    _assign(session, actor, ticket, ticket.team, user, now or utcnow(), ASSIGNED,
            {**_people(ticket.team, user), "from_assignee_id": previous.id if previous else None,
             "from_assignee": previous.name if previous else None, "reason": reason})


def transfer(session: Session, actor, ticket: Ticket, team_id: int, reason: str, assignee_id: int | None = None,
             now: datetime | None = None) -> RoutingDecision:
    """Move the ticket to another team (the history stays in the events); without an
    ``assignee_id`` routing picks one in the new team."""
    reason = _check_lead(actor, ticket, reason)
    team = session.get(Team, team_id)
    if team is None or not team.active:
        raise ValidationError("Choose an active team.", "team_id")
    if team.id == ticket.team_id:
        raise ValidationError(f"The ticket is already with {team.name}.", "team_id")
    if assignee_id is not None:
        user, why = _eligible(session, ticket, team, assignee_id), f"chosen by {actor.name}"
    elif ticket.restricted:
        user, why = _pick_lead(session, ticket, team)
    else:
        user, notes = _pick_agent(session, ticket, team)
        why = "; ".join(notes)
    old_team, old_assignee = ticket.team, ticket.assignee
    _assign(session, actor, ticket, team, user, now or utcnow(), TRANSFERRED,
            {**_people(team, user), "from_team_id": old_team.id if old_team else None,
             "from_team": old_team.name if old_team else None,
             "from_assignee_id": old_assignee.id if old_assignee else None, "reason": reason, "routing": why})
    return RoutingDecision(team, user, why)


def rebalance_suggestions(session: Session, team_id: int) -> list[tuple[Ticket, User, User]]:
    """Moves that even out a team: tickets not yet acknowledged, from agents over capacity to
    the least loaded member skilled in the ticket's category (or anyone if nobody is), while
    the move narrows the gap. Suggestions only; a lead applies them with :func:`reassign`."""
    loads = {a.user.id: a for a in agent_loads(session, team_id)}
    if len(loads) < 2:
        return []
    load = {uid: a.weighted_load for uid, a in loads.items()}
    skills: dict[int, set[int]] = {}
    for uid, cid in session.execute(select(AgentSkill.user_id, AgentSkill.category_id)
                                    .where(AgentSkill.user_id.in_(list(loads)))):
        skills.setdefault(uid, set()).add(cid)
    movable = session.scalars(select(Ticket).where(
        Ticket.team_id == team_id, Ticket.status == S_ASSIGNED, Ticket.restricted.is_(False),
        Ticket.assignee_id.in_([uid for uid, a in loads.items() if a.utilisation > 1.0]))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())).all()
    out = []
    for ticket in movable:
        src = ticket.assignee_id
        if load[src] / loads[src].capacity <= 1.0:
            continue
        w = WEIGHTS.get(ticket.priority, WEIGHTS["medium"])
        cat = ticket.subcategory or ticket.category
        wanted = {cat.id, cat.top.id} if cat else set()
        others = [u for u in loads if u not in (src, ticket.requester_id)]
        skilled = [u for u in others if not wanted or skills.get(u, set()) & wanted]
        pool = [u for u in (skilled or others) if (load[u] + w) / loads[u].capacity <= 1.0]
        if not pool:
            continue
        dst = min(pool, key=lambda u: (load[u] / loads[u].capacity, u))
        if load[dst] + w >= load[src]:
            continue
        load[src] -= w
        load[dst] += w
        out.append((ticket, loads[src].user, loads[dst].user))
    return out

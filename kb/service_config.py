"""Admin configuration of the service: the priority matrix, teams (name, lead, members,
owned categories) and agent profiles (capacity, languages, skills).

Kept apart from :mod:`kb.triage_service` and :mod:`kb.routing`, which read these (the
matrix functions are re-exported by :mod:`kb.triage_service`). Every change is an
admin's (:func:`kb.permissions.can_configure_service`) and is validated before anything
is written, so a refused form changes nothing.
"""
from __future__ import annotations

import re
from typing import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.errors import ValidationError
from kb.taxonomy import Category
from kb.teams import DEFAULT_CAPACITY, AgentProfile, AgentSkill, Team, TeamCategory, TeamMember
from kb.ticket_records import PriorityMatrixCell
from kb.tickets import IMPACTS, PRIORITY_KEYS, URGENCIES
from kb.triage.priority import DEFAULT_MATRIX, priority_rank, validate_matrix
from kb.users import Role, User

NAME_MAX = 120
CAPACITY_MAX = 500
LANGUAGES_MAX = 60
LEAD_ROLES = (Role.LEAD.value, Role.ADMIN.value)
MEMBER_ROLES = (Role.AGENT.value, Role.LEAD.value)
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


def _cap(priority: str) -> str:
    return priority.capitalize()


# -- the priority matrix ------------------------------------------------------------------

def seed_priority_matrix(session: Session) -> int:
    """Store the default matrix's missing cells; cells an admin changed stay. Returns cells added."""
    have = {(c.impact, c.urgency) for c in session.scalars(select(PriorityMatrixCell))}
    added = 0
    for impact, row in DEFAULT_MATRIX.items():
        for urgency, priority in row.items():
            if (impact, urgency) not in have:
                session.add(PriorityMatrixCell(impact=impact, urgency=urgency, priority=priority.lower()))
                added += 1
    session.flush()
    return added


def matrix(session: Session) -> dict[str, dict[str, str]]:
    """The matrix in :mod:`kb.triage` form ("High"...); a missing cell is the default's."""
    result = {impact: dict(row) for impact, row in DEFAULT_MATRIX.items()}
    for cell in session.scalars(select(PriorityMatrixCell)):
        if cell.impact in result and cell.urgency in result[cell.impact]:
            result[cell.impact][cell.urgency] = _cap(cell.priority)
    return result


def set_matrix(session: Session, actor, cells: dict[tuple[str, str], str]) -> dict[str, dict[str, str]]:
    """Change some or all cells. Refused unless every key and priority is known and the
    result stays monotone (more impact or more urgency never lowers the priority)."""
    permissions.require(permissions.can_configure_service(actor), "Only administrators can change the matrix.")
    new = matrix(session)
    for key, priority in cells.items():
        impact, urgency = key
        if impact not in IMPACTS or urgency not in URGENCIES:
            raise ValidationError(f"Unknown matrix cell ({impact!r}, {urgency!r}).", "matrix")
        value = (priority or "").strip().lower()
        if value not in PRIORITY_KEYS:
            raise ValidationError(f"Unknown priority {priority!r}; choose one of {', '.join(PRIORITY_KEYS)}.",
                                  f"{impact}__{urgency}")
        new[impact][urgency] = _cap(value)
    validate_matrix(new)
    for i, impact in enumerate(IMPACTS):
        for j, urgency in enumerate(URGENCIES):
            here = priority_rank(new[impact][urgency])
            below = [(IMPACTS[i - 1], urgency)] if i else []
            below += [(impact, URGENCIES[j - 1])] if j else []
            for bi, bu in below:
                if priority_rank(new[bi][bu]) > here:
                    raise ValidationError(
                        f"({impact}, {urgency}) is {new[impact][urgency]} but the lower cell ({bi}, {bu}) is "
                        f"{new[bi][bu]}: more impact or urgency must never lower the priority.",
                        f"{impact}__{urgency}")
    stored = {(c.impact, c.urgency): c for c in session.scalars(select(PriorityMatrixCell))}
    for impact in IMPACTS:
        for urgency in URGENCIES:
            value = new[impact][urgency].lower()
            cell = stored.get((impact, urgency))
            if cell is None:
                session.add(PriorityMatrixCell(impact=impact, urgency=urgency, priority=value))
            elif cell.priority != value:
                cell.priority = value
    session.flush()
    return new


# -- teams and agents ---------------------------------------------------------------------

def _require(actor) -> None:
    permissions.require(permissions.can_configure_service(actor), "Only administrators can configure teams.")


def _name(session: Session, name: str, field: str, team: Team | None = None, *, required: bool = True) -> str:
    name = (name or "").strip()
    if required and not name:
        raise ValidationError("Enter a team name.", field)
    if len(name) > NAME_MAX:
        raise ValidationError(f"A team name can have at most {NAME_MAX} characters.", field)
    if required:
        clash = session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))
        if clash is not None and clash is not team:
            raise ValidationError(f"A team called {clash.name} already exists.", field)
    return name


def list_teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def owners(session: Session) -> dict[int, Team]:
    """category id -> the team that owns it."""
    return {tc.category_id: tc.team for tc in session.scalars(select(TeamCategory))}


def team_category_ids(session: Session, team: Team) -> list[int]:
    return list(session.scalars(select(TeamCategory.category_id).where(TeamCategory.team_id == team.id)))


def eligible_leads(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.active.is_(True), User.role.in_(LEAD_ROLES))
                                .order_by(User.name)))


def eligible_members(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.active.is_(True), User.role.in_(MEMBER_ROLES))
                                .order_by(User.name)))


def create_team(session: Session, actor, *, name: str, name_zh: str = "") -> Team:
    _require(actor)
    team = Team(name=_name(session, name, "name"), name_zh=_name(session, name_zh, "name_zh", required=False))
    session.add(team)
    session.flush()
    return team


def update_team(session: Session, actor, team: Team, *, name: str, name_zh: str = "", lead_id: int | None = None,
                active: bool = True, member_ids: Iterable[int] = (), category_ids: Iterable[int] = ()) -> Team:
    """Replace the team's settings, members and owned categories in one validated step."""
    _require(actor)
    name = _name(session, name, "name", team)
    name_zh = _name(session, name_zh, "name_zh", team, required=False)
    if lead_id is not None:
        lead = session.get(User, lead_id)
        if lead is None or not lead.is_active or lead.role not in LEAD_ROLES:
            raise ValidationError("The lead must be an active team lead or admin.", "lead_id")
    member_ids = sorted(set(member_ids))
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(member_ids)))}
    for uid in member_ids:
        user = found.get(uid)
        if user is None or not user.is_active or user.role not in MEMBER_ROLES:
            raise ValidationError("Members must be active agents or team leads.", "member_ids")
    category_ids = sorted(set(category_ids))
    known = set(session.scalars(select(Category.id).where(Category.id.in_(category_ids))))
    if known != set(category_ids):
        raise ValidationError("Unknown category.", "category_ids")
    taken = session.execute(select(Category.name, Team.name).join(TeamCategory, TeamCategory.category_id == Category.id)
                            .join(Team, Team.id == TeamCategory.team_id)
                            .where(TeamCategory.category_id.in_(category_ids), TeamCategory.team_id != team.id)).all()
    if taken:
        cat, other = taken[0]
        raise ValidationError(f"{cat} is owned by {other}; remove it there first.", "category_ids")
    team.name, team.name_zh, team.lead_id, team.active = name, name_zh, lead_id, bool(active)
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id,
                                             TeamMember.user_id.not_in(member_ids)))
    have = set(session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team.id)))
    session.add_all(TeamMember(team_id=team.id, user_id=uid) for uid in member_ids if uid not in have)
    session.execute(delete(TeamCategory).where(TeamCategory.team_id == team.id,
                                               TeamCategory.category_id.not_in(category_ids)))
    owned = set(team_category_ids(session, team))
    session.add_all(TeamCategory(team_id=team.id, category_id=cid) for cid in category_ids if cid not in owned)
    session.flush()
    session.expire(team, ["members"])
    return team


def profile_of(session: Session, user: User) -> AgentProfile:
    """The stored profile, or an unsaved one with the defaults."""
    return session.get(AgentProfile, user.id) or AgentProfile(user_id=user.id, capacity=DEFAULT_CAPACITY,
                                                               languages="en")


def skills_of(session: Session, user: User) -> list[int]:
    return list(session.scalars(select(AgentSkill.category_id).where(AgentSkill.user_id == user.id)))


def parse_languages(text: str) -> list[str]:
    codes = [c.strip().lower().replace("_", "-") for c in (text or "").split(",") if c.strip()]
    bad = [c for c in codes if not _LANG_RE.match(c)]
    if bad:
        raise ValidationError(f"Not a language code: {', '.join(bad)} (use codes like en, zh, de).", "languages")
    if not codes:
        raise ValidationError("Enter at least one language code, e.g. en.", "languages")
    codes = list(dict.fromkeys(codes))
    if len(",".join(codes)) > LANGUAGES_MAX:
        raise ValidationError(f"At most {LANGUAGES_MAX} characters of language codes.", "languages")
    return codes


def update_agent_profile(session: Session, actor, user: User, *, capacity: int, languages: str,
                         skill_ids: Iterable[int] = ()) -> AgentProfile:
    """Capacity (weighted open tickets: high 3, medium 2, low 1), languages and skills."""
    _require(actor)
    if user.role not in MEMBER_ROLES:
        raise ValidationError("Only agents and team leads have an agent profile.", "user")
    if capacity is None or not 1 <= int(capacity) <= CAPACITY_MAX:
        raise ValidationError(f"Capacity must be between 1 and {CAPACITY_MAX}.", "capacity")
    codes = parse_languages(languages)
    wanted = sorted(set(skill_ids))
    if set(session.scalars(select(Category.id).where(Category.id.in_(wanted)))) != set(wanted):
        raise ValidationError("Unknown category.", "skill_ids")
    profile = session.get(AgentProfile, user.id)
    if profile is None:
        profile = AgentProfile(user_id=user.id)
        session.add(profile)
    profile.capacity, profile.languages = int(capacity), ",".join(codes)
    session.execute(delete(AgentSkill).where(AgentSkill.user_id == user.id, AgentSkill.category_id.not_in(wanted)))
    have = set(session.scalars(select(AgentSkill.category_id).where(AgentSkill.user_id == user.id)))
    session.add_all(AgentSkill(user_id=user.id, category_id=cid) for cid in wanted if cid not in have)
    session.flush()
    return profile

"""Every authorisation rule, as named checks.

Views, the JSON API, templates and search filtering all ask these functions;
nothing else decides who may see or change what.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kb.errors import PermissionDenied
from kb.users import Role

if TYPE_CHECKING:
    from kb.users import User

STAFF_ROLES = {Role.AGENT, Role.LEAD, Role.TRAINER, Role.ADMIN}
EDITOR_ROLES = {Role.AGENT, Role.LEAD, Role.TRAINER, Role.ADMIN}
REVIEWER_ROLES = {Role.LEAD, Role.ADMIN}


def _role(actor) -> Role | None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    return Role(actor.role)


def require(allowed: bool, message: str = "You are not allowed to do that.") -> None:
    if not allowed:
        raise PermissionDenied(message)


def is_staff(actor: "User | None") -> bool:
    return _role(actor) in STAFF_ROLES


def can_manage_users(actor) -> bool:
    return _role(actor) == Role.ADMIN


def can_create_article(actor) -> bool:
    return _role(actor) in EDITOR_ROLES


def can_view_article(actor, article) -> bool:
    """Published public articles are for everyone; everything else is for staff."""
    if article.status == "published" and article.audience == "public":
        return True
    return is_staff(actor)


def can_edit_article(actor, article) -> bool:
    """Editors change live content; archived articles only come back through a reviewer."""
    role = _role(actor)
    if role in REVIEWER_ROLES:
        return True
    return role in EDITOR_ROLES and article.status != "archived"


def can_review_article(actor, article=None) -> bool:
    """Team leads and admins publish, return and archive articles."""
    return _role(actor) in REVIEWER_ROLES


def can_view_history(actor, article) -> bool:
    return is_staff(actor)


def can_vote_article(actor, article) -> bool:
    return can_view_article(actor, article)


def can_file_ticket(actor) -> bool:
    return _role(actor) is not None


WORKER_ROLES = {Role.AGENT, Role.LEAD, Role.ADMIN}


def can_view_ticket(actor, ticket) -> bool:
    """A ticket is for its requester, the people following it (colleagues affected by the
    same problem: they read its public thread) and the support staff; a restricted one (a
    complaint about the service or an agent's attitude) only for its requester, team leads
    and admins."""
    role = _role(actor)
    if role is None:
        return False
    if ticket.requester_id == actor.id:
        return True
    if getattr(ticket, "restricted", False):
        return role in REVIEWER_ROLES
    return is_staff(actor) or actor.id in getattr(ticket, "follower_ids", ())


def can_export_ticket(actor, ticket) -> bool:
    """The export names the requester: for the requester and staff, not for followers."""
    return can_view_ticket(actor, ticket) and (is_staff(actor) or ticket.requester_id == actor.id)


def can_work_ticket(actor, ticket) -> bool:
    """Reply publicly, add notes, acknowledge, plan, resolve: agents, leads and admins who can see it."""
    return _role(actor) in WORKER_ROLES and can_view_ticket(actor, ticket)


def can_file_on_behalf(actor) -> bool:
    """Log a call (or another channel's message) as a ticket for someone else: agents, leads, admins."""
    return _role(actor) in WORKER_ROLES


def can_assign_ticket(actor, ticket=None) -> bool:
    """Reassign, transfer to another team, rebalance workload: team leads and admins."""
    return _role(actor) in REVIEWER_ROLES and (ticket is None or can_view_ticket(actor, ticket))


def can_view_audit(actor, ticket=None) -> bool:
    """A ticket's full audit trail (views, exports, reminders): team leads and admins."""
    return _role(actor) in REVIEWER_ROLES and (ticket is None or can_view_ticket(actor, ticket))


def can_use_desk(actor) -> bool:
    """The agent desk (queues): people who work tickets."""
    return _role(actor) in WORKER_ROLES


def can_configure_service(actor) -> bool:
    """Priority matrix, teams and skills, SLA policies and calendars: admins."""
    return _role(actor) == Role.ADMIN


def can_view_intake_stats(actor) -> bool:
    """Deflection figures are for team leads and admins."""
    return _role(actor) in REVIEWER_ROLES


def can_answer_survey(actor, ticket, answered: bool = False) -> bool:
    """The satisfaction survey speaks for the person who was served: the ticket's requester,
    once the ticket is closed, and only once (``answered``: a response already exists)."""
    return (_role(actor) is not None and ticket.requester_id == actor.id
            and ticket.status == "closed" and not answered)


def can_view_reports(actor) -> bool:
    """Service reports (satisfaction, SLA, workload): team leads and admins."""
    return _role(actor) in REVIEWER_ROLES


def can_view_performance(actor, agent_id: int, lead_ids=()) -> bool:
    """One agent's performance figures: the agent themself, admins, and the leads of a team
    the agent belongs to (``lead_ids``: the leads of the agent's teams)."""
    role = _role(actor)
    if role is None:
        return False
    return actor.id == agent_id or role == Role.ADMIN or (role == Role.LEAD and actor.id in set(lead_ids))


def article_search_filters(actor) -> dict[str, set[str]]:
    """The facet filter search must apply for this actor (see search.SearchEngine.query)."""
    if is_staff(actor):
        return {"status": {"published"}}
    return {"status": {"published"}, "audience": {"public"}}


def visible_audiences(actor) -> set[str]:
    return {"public", "internal"} if is_staff(actor) else {"public"}


def can_manage_integrations(actor) -> bool:
    """Chat integrations (their webhook secrets let a platform file tickets as anyone): admins."""
    return _role(actor) == Role.ADMIN


def can_use_api_tokens(actor) -> bool:
    """Personal API tokens act as their owner, with exactly their rights: any active account."""
    return _role(actor) is not None


def can_manage_mail(actor) -> bool:
    """The outbox (failed sends, retries) and the incoming mail log and quarantine show
    everyone's mail addresses and raw messages: admins only."""
    return _role(actor) == Role.ADMIN


def can_manage_incidents(actor) -> bool:
    """Declare an incident and group tickets under it (duplicates, merges): the people who
    work tickets (agents, leads, admins), because an outage is first noticed at the desk."""
    return _role(actor) in WORKER_ROLES


def can_view_article_health(actor) -> bool:
    """Article health (stale, voted down, reopened tickets) and "mark reviewed": the people
    who publish articles, team leads and admins."""
    return _role(actor) in REVIEWER_ROLES


CURATOR_ROLES = {Role.TRAINER, Role.LEAD, Role.ADMIN}


def can_curate_collections(actor) -> bool:
    """Build, publish and assign collections (learning paths) and see every learner's
    progress: trainers, team leads and admins."""
    return _role(actor) in CURATOR_ROLES


def can_view_collection(actor, collection, *, team_ids=(), assigned: bool = False) -> bool:
    """Curators see every collection, drafts too; anyone else a published one whose audience
    includes their role or one of their teams (``team_ids``), or one assigned to them
    (``assigned``). The caller looks teams and assignments up: this module does not query."""
    role = _role(actor)
    if role is None:
        return False
    if role in CURATOR_ROLES:
        return True
    if collection.status != "published":
        return False
    roles = {r for r in (collection.audience_roles or "").split(",") if r}
    team = collection.audience_team_id
    return assigned or role.value in roles or (team is not None and team in set(team_ids))


def can_draft_article(actor, ticket) -> bool:
    """Draft a knowledge article from a ticket (kb.drafting): the people who work it (agents,
    leads, admins who can see it); the ticket must also be resolved or closed, which the
    service checks (a state, not a right)."""
    return can_work_ticket(actor, ticket) and can_create_article(actor)


def can_draft_from_history(actor) -> bool:
    """Look through closed tickets for recurring problems to write up (kb.draft_batch): the
    people who work tickets and write articles (agents, leads, admins); each ticket drafted
    from is checked again with :func:`can_draft_article`."""
    return _role(actor) in WORKER_ROLES and can_create_article(actor)


def can_manage_jobs(actor) -> bool:
    """Background jobs (the queue's dead letters, index jobs that failed): their arguments
    and errors are internals, and retrying or deleting them is an operator's call: admins."""
    return _role(actor) == Role.ADMIN

"""Working a ticket, step by step as PROCESS.md describes it: take, acknowledge with planned
actions and an expected completion, diagnose and plan, ask the requester, resolve, and
the requester's confirm / reopen / cancel. Also collaborators, articles used for the
resolution, edits, and the audit of views and exports of restricted tickets.

Every function checks permission first (through :mod:`kb.permissions`), moves status only
through :mod:`kb.ticket_flow` and writes an event (:mod:`kb.ticket_events`), so the
audit trail is complete whichever page or API calls it. They flush; callers commit.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import permissions
from kb.articles_models import Article
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.notifications import notify, notify_requesters, ticket_path
from kb.teams import Team, TeamMember
from kb.ticket_events import (ACKNOWLEDGED, ARTICLE_LINK, ASSIGNED, COLLABORATOR, EDIT, EXPORT, PLAN, RESOLUTION,
                              VIEW_RESTRICTED, record_event)
from kb.ticket_flow import (ACKNOWLEDGED as S_ACKNOWLEDGED, ASSIGNED as S_ASSIGNED, CANCELLED, CLOSED, IN_PROGRESS,
                            NEW, REOPENED, RESOLVED, WAITING, apply_transition, transition_ticket)
from kb.ticket_messages import add_reply
from kb.ticket_records import ResolutionPlan, TicketArticleLink, TicketCollaborator
from kb.users import User
from kb.validation import clean_text

TEXT_MAX = 10000
EMAIL_MAX, PHONE_MAX = 254, 40


def _text(value: str | None, field: str, label: str, *, required: bool = True, limit: int = TEXT_MAX) -> str:
    return clean_text(value, field=field, limit=limit, label=label,
                      missing=f"Enter the {label}." if required else None)


def _require_work(actor, ticket) -> None:
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    permissions.require(permissions.can_work_ticket(actor, ticket), "Only support agents can do that.")


def _notify(session, user_id, kind: str, text: str, ticket, now) -> None:
    if user_id is None:
        return
    notify(session, user_id, kind, text, ticket=ticket, now=now)


def take(session: Session, actor, ticket, *, now: datetime | None = None) -> None:
    """An agent assigns an unassigned ticket to themselves (staying in its team)."""
    _require_work(actor, ticket)
    if ticket.assignee_id is not None:
        raise InvalidTransition(f"This ticket is already assigned to {ticket.assignee.name}.")
    if ticket.status not in (NEW, S_ASSIGNED, REOPENED):
        raise InvalidTransition("Only a new or reopened ticket can be taken.")
    now = now or utcnow()
    ticket.assignee_id = actor.id
    record_event(session, actor, ticket, ASSIGNED,
                 data={"assignee_id": actor.id, "assignee": actor.name, "reason": "taken by the agent"}, now=now)
    if ticket.status == NEW:
        apply_transition(session, actor, ticket, S_ASSIGNED, now=now)


def acknowledge(session: Session, actor, ticket, *, planned_actions: str, expected_completion_at: datetime,
                now: datetime | None = None) -> None:
    """Accept the ticket and tell the requester what will happen and by when."""
    _require_work(actor, ticket)
    now = now or utcnow()
    actions = _text(planned_actions, "planned_actions", "planned actions")
    if expected_completion_at is None:
        raise ValidationError("Enter the expected completion time.", "expected_completion_at")
    if expected_completion_at.tzinfo is None:
        raise ValidationError("The expected completion time needs a time zone.", "expected_completion_at")
    if expected_completion_at <= now:
        raise ValidationError("The expected completion time must be in the future.", "expected_completion_at")
    if ticket.status == NEW:
        if ticket.assignee_id is None:
            take(session, actor, ticket, now=now)
        else:
            apply_transition(session, actor, ticket, S_ASSIGNED, now=now)
    ticket.planned_actions = actions
    ticket.expected_completion_at = expected_completion_at
    if ticket.status == S_ASSIGNED:
        transition_ticket(session, actor, ticket, S_ACKNOWLEDGED, now=now)
    elif ticket.status not in (S_ACKNOWLEDGED, IN_PROGRESS, REOPENED, WAITING):
        raise InvalidTransition(f"A {ticket.status!r} ticket cannot be acknowledged.")
    record_event(session, actor, ticket, ACKNOWLEDGED,
                 data={"expected_completion_at": expected_completion_at.isoformat()}, now=now)
    notify_requesters(session, ticket, "acknowledged",
                      f"{ticket.reference} was accepted by {actor.name}; expected completion "
                      f"{expected_completion_at:%Y-%m-%d %H:%M} UTC.", now=now, body=f"Planned actions:\n{actions}")


def start_work(session: Session, actor, ticket, *, now: datetime | None = None) -> None:
    """acknowledged/reopened/waiting -> in progress (reopened goes back to diagnosis here)."""
    _require_work(actor, ticket)
    transition_ticket(session, actor, ticket, IN_PROGRESS, now=now)


def _ensure_in_progress(session, actor, ticket, now) -> None:
    if ticket.status in (S_ACKNOWLEDGED, REOPENED):
        transition_ticket(session, actor, ticket, IN_PROGRESS, now=now)


def ask_requester(session: Session, actor, ticket, body: str, *, now: datetime | None = None):
    """A public question to the requester; the ticket waits (and its clocks pause) until they answer."""
    _require_work(actor, ticket)
    now = now or utcnow()
    _ensure_in_progress(session, actor, ticket, now)
    if ticket.status != IN_PROGRESS:
        raise InvalidTransition(f"A {ticket.status!r} ticket cannot wait for the requester.")
    message = add_reply(session, actor, ticket, body, now=now)
    transition_ticket(session, actor, ticket, WAITING, now=now)
    notify(session, ticket.requester_id, "question", f"{ticket.reference}: {actor.name} asked you a question.",
           ticket=ticket, now=now, body=message.body, links=[("Answer", ticket_path(ticket))])
    return message


def reply(session: Session, actor, ticket, body: str, *, internal: bool = False, now: datetime | None = None):
    """A reply or note. A requester answering a ticket that waits for them puts it back in progress."""
    now = now or utcnow()
    message = add_reply(session, actor, ticket, body, internal=internal, now=now)
    if internal:
        return message
    text = f"{ticket.reference}: {actor.name} replied."
    if not permissions.is_staff(actor):  # the requester or a follower
        if actor.id == ticket.requester_id and ticket.status == WAITING:
            transition_ticket(session, actor, ticket, IN_PROGRESS, now=now)
        if ticket.assignee_id != actor.id:
            _notify(session, ticket.assignee_id, "reply", text, ticket, now)
    notify_requesters(session, ticket, "reply", text, now=now, body=message.body, exclude=actor.id)
    return message


def resolve(session: Session, actor, ticket, resolution: str, *, now: datetime | None = None) -> None:
    """Record how it was solved and hand it to the requester for verification."""
    _require_work(actor, ticket)
    now = now or utcnow()
    text = _text(resolution, "resolution", "resolution")
    _ensure_in_progress(session, actor, ticket, now)
    transition_ticket(session, actor, ticket, RESOLVED, now=now)
    ticket.resolution = text
    record_event(session, actor, ticket, RESOLUTION, now=now)
    notify_requesters(session, ticket, "resolved",
                      f"{ticket.reference} was resolved. Please confirm the fix or reopen it.", now=now,
                      body=f"Resolution:\n{text}",
                      links=[("Confirm the fix", f"{ticket_path(ticket)}/mail/confirm"),
                             ("It is not fixed: reopen", f"{ticket_path(ticket)}/mail/reopen")])
    from kb.ticket_grouping import resolve_children  # late: it builds on the ticket modules
    resolve_children(session, actor, ticket, now=now)  # an incident's or a parent's open children


def confirm(session: Session, actor, ticket, *, now: datetime | None = None) -> None:
    """The requester confirms the fix: resolved -> closed (and the survey opens)."""
    if actor is None or actor.id != ticket.requester_id:
        if not permissions.can_view_ticket(actor, ticket):
            raise NotFound("We could not find that ticket.")
        raise PermissionDenied("Only the requester confirms a resolution.")
    transition_ticket(session, actor, ticket, CLOSED, reason="confirmed by the requester", now=now)


def reopen(session: Session, actor, ticket, reason: str, *, now: datetime | None = None) -> None:
    """The requester says it is not solved: back to diagnosis, history kept, agent told."""
    now = now or utcnow()
    transition_ticket(session, actor, ticket, REOPENED, reason=reason, now=now)
    _notify(session, ticket.assignee_id, "reopened", f"{ticket.reference} was reopened by {actor.name}.", ticket, now)


def cancel(session: Session, actor, ticket, reason: str, *, now: datetime | None = None) -> None:
    transition_ticket(session, actor, ticket, CANCELLED, reason=reason, now=now)
    _notify(session, ticket.assignee_id, "cancelled", f"{ticket.reference} was withdrawn by the requester.",
            ticket, now or utcnow())


def save_plan(session: Session, actor, ticket, *, diagnosis: str = "", steps: str, expected_effect: str = "",
              risks: str = "", now: datetime | None = None) -> ResolutionPlan:
    """A new revision of the diagnosis and resolution plan (the requester sees it)."""
    _require_work(actor, ticket)
    if ticket.status in (CLOSED, CANCELLED, "merged"):
        raise InvalidTransition(f"A {ticket.status!r} ticket takes no new plan.")
    now = now or utcnow()
    plan = ResolutionPlan(ticket_id=ticket.id, author_id=actor.id, created_at=now,
                          diagnosis=_text(diagnosis, "diagnosis", "diagnosis", required=False),
                          steps=_text(steps, "steps", "steps of the plan"),
                          expected_effect=_text(expected_effect, "expected_effect", "expected effect", required=False),
                          risks=_text(risks, "risks", "risks and how they are handled", required=False))
    session.add(plan)
    session.flush()
    record_event(session, actor, ticket, PLAN, data={"plan_id": plan.id}, now=now)
    _ensure_in_progress(session, actor, ticket, now)
    return plan


def plans(session: Session, actor, ticket) -> list[ResolutionPlan]:
    """All revisions, newest first."""
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    return list(session.scalars(select(ResolutionPlan).where(ResolutionPlan.ticket_id == ticket.id)
                                .order_by(ResolutionPlan.created_at.desc(), ResolutionPlan.id.desc())))


def add_collaborator(session: Session, actor, ticket, *, user_id: int | None = None, team_id: int | None = None,
                     now: datetime | None = None) -> TicketCollaborator:
    """Bring another agent or a whole team in; the assignee stays responsible."""
    _require_work(actor, ticket)
    if (user_id is None) == (team_id is None):
        raise ValidationError("Choose an agent or a team.", "collaborator")
    now = now or utcnow()
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or not user.is_active or user.role not in ("agent", "lead", "admin"):
            raise ValidationError("Only active support agents can collaborate on a ticket.", "collaborator")
        label, key = user.name, TicketCollaborator.user_id == user_id
    else:
        team = session.get(Team, team_id)
        if team is None or not team.active:
            raise ValidationError("Choose an active team.", "collaborator")
        label, key = team.name, TicketCollaborator.team_id == team_id
    if session.scalar(select(TicketCollaborator).where(TicketCollaborator.ticket_id == ticket.id, key)):
        raise ValidationError(f"{label} already collaborates on this ticket.", "collaborator")
    row = TicketCollaborator(ticket_id=ticket.id, user_id=user_id, team_id=team_id, added_by_id=actor.id,
                             created_at=now)
    session.add(row)
    session.flush()
    record_event(session, actor, ticket, COLLABORATOR,
                 data={"action": "added", "user_id": user_id, "team_id": team_id, "name": label}, now=now)
    recipients = [user_id] if user_id else list(session.scalars(
        select(TeamMember.user_id).where(TeamMember.team_id == team_id)))
    for uid in recipients:
        if uid != actor.id:
            _notify(session, uid, "collaborator", f"{actor.name} asked for your help on {ticket.reference}.",
                    ticket, now)
    return row


def remove_collaborator(session: Session, actor, ticket, collaborator_id: int, *, now: datetime | None = None) -> None:
    _require_work(actor, ticket)
    row = session.get(TicketCollaborator, collaborator_id)
    if row is None or row.ticket_id != ticket.id:
        raise NotFound("That collaborator is not on this ticket.")
    data = {"action": "removed", "user_id": row.user_id, "team_id": row.team_id}
    session.delete(row)
    record_event(session, actor, ticket, COLLABORATOR, data=data, now=now)


def collaborators(session: Session, ticket) -> list[TicketCollaborator]:
    return list(session.scalars(select(TicketCollaborator).where(TicketCollaborator.ticket_id == ticket.id)
                                .order_by(TicketCollaborator.created_at)))


def link_article(session: Session, actor, ticket, article_id: int, *, now: datetime | None = None) -> None:
    """Mark a knowledge article as used for this ticket's resolution."""
    _require_work(actor, ticket)
    article = session.get(Article, article_id)
    if article is None or not permissions.can_view_article(actor, article):
        raise NotFound("We could not find that article.")
    if session.get(TicketArticleLink, (ticket.id, article_id)) is None:
        session.add(TicketArticleLink(ticket_id=ticket.id, article_id=article_id, linked_by_id=actor.id,
                                      created_at=now or utcnow()))
        record_event(session, actor, ticket, ARTICLE_LINK,
                     data={"article_id": article_id, "title": article.title, "action": "linked"}, now=now)


def unlink_article(session: Session, actor, ticket, article_id: int, *, now: datetime | None = None) -> None:
    _require_work(actor, ticket)
    link = session.get(TicketArticleLink, (ticket.id, article_id))
    if link is None:
        raise NotFound("That article is not linked to this ticket.")
    session.delete(link)
    record_event(session, actor, ticket, ARTICLE_LINK, data={"article_id": article_id, "action": "unlinked"}, now=now)


def linked_articles(session: Session, actor, ticket) -> list[Article]:
    """The linked articles this actor may read (a requester does not see internal ones)."""
    rows = session.scalars(select(Article).join(TicketArticleLink, TicketArticleLink.article_id == Article.id)
                           .where(TicketArticleLink.ticket_id == ticket.id).order_by(TicketArticleLink.created_at))
    return [a for a in rows if permissions.can_view_article(actor, a)]


def edit_ticket(session: Session, actor, ticket, *, title: str | None = None, description: str | None = None,
                contact_email: str | None = None, contact_phone: str | None = None,
                now: datetime | None = None) -> list[str]:
    """Staff edit the registration; the requester may while nobody has picked it up. Returns changed fields."""
    from kb.tickets import DESCRIPTION_MAX, TITLE_MAX
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    own_new = actor.id == ticket.requester_id and ticket.status == NEW
    permissions.require(permissions.can_work_ticket(actor, ticket) or own_new,
                        "You can only edit your ticket until an agent picks it up.")
    values = {}
    if title is not None:
        values["title"] = _text(title, "title", "title", limit=TITLE_MAX)
    if description is not None:
        values["description"] = _text(description, "description", "description", limit=DESCRIPTION_MAX)
    if contact_email is not None:
        values["contact_email"] = _text(contact_email, "contact_email", "email", required=False, limit=EMAIL_MAX) or None
        if values["contact_email"] and "@" not in values["contact_email"]:
            raise ValidationError("Enter a valid email address.", "contact_email")
    if contact_phone is not None:
        values["contact_phone"] = _text(contact_phone, "contact_phone", "phone", required=False, limit=PHONE_MAX) or None
    changed = [k for k, v in values.items() if getattr(ticket, k) != v]
    if changed:
        now = now or utcnow()
        for k in changed:
            setattr(ticket, k, values[k])
        ticket.updated_at = now
        record_event(session, actor, ticket, EDIT, data={"fields": changed}, now=now)
    return changed


def record_view(session: Session, actor, ticket, *, now: datetime | None = None) -> None:
    """Opening a restricted ticket is itself an audited action (the requester's own views are not)."""
    if ticket.restricted and actor is not None and actor.id != ticket.requester_id:
        record_event(session, actor, ticket, VIEW_RESTRICTED, now=now)


def record_export(session: Session, actor, ticket, fmt: str, *, now: datetime | None = None) -> None:
    record_event(session, actor, ticket, EXPORT, data={"format": fmt}, now=now)

"""The satisfaction survey: after closure the requester rates response speed, effectiveness
of the solution, and communication and attitude (1-5 each) and may leave a comment.

One answer per ticket (a unique constraint backs the check). The answer is tied to the
agent and team that held the ticket *when it was answered*, so a later change of team
membership or a reassignment cannot move praise or blame. The SURVEY event carries the
three ratings but never the comment: the history is shown to more people than the report.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, object_session

from kb import permissions
from kb.db import utcnow
from kb.errors import InvalidTransition, NotFound, ValidationError
from kb.pagination import Paged
from kb.teams import Team
from kb.ticket_events import SURVEY, record_event
from kb.ticket_flow import CLOSED
from kb.ticket_records import RATING_MAX, RATING_MIN, SurveyResponse
from kb.tickets import Ticket
from kb.users import User
from kb.validation import clean_text

COMMENT_MAX = 2000
RATINGS = ("speed", "effectiveness", "communication")
RATING_LABELS = {"speed": "response speed", "effectiveness": "effectiveness of the solution",
                 "communication": "communication and attitude"}
ALREADY_RATED = "You have already rated this ticket."
NOT_CLOSED = "You can rate a ticket once it is closed."
NOT_REQUESTER = "Only the person who filed the ticket can rate it."


def _answered(session: Session, ticket) -> bool:
    return session.scalar(select(SurveyResponse.id).where(SurveyResponse.ticket_id == ticket.id)) is not None


def require_can_answer(session: Session, actor, ticket) -> None:
    """Raise the precise reason this actor cannot answer now: NotFound for a ticket they
    cannot see (no hint it exists), PermissionDenied for staff, InvalidTransition (409)
    while the ticket is not closed or once it has been rated."""
    answered = _answered(session, ticket)
    if permissions.can_answer_survey(actor, ticket, answered=answered):
        return
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    permissions.require(ticket.requester_id == actor.id, NOT_REQUESTER)
    if ticket.status != CLOSED:
        raise InvalidTransition(NOT_CLOSED)
    raise InvalidTransition(ALREADY_RATED)


def can_answer(actor, ticket) -> bool:
    """For buttons and calls to action; the session is the ticket's own."""
    session = object_session(ticket)
    answered = session is not None and _answered(session, ticket)
    return permissions.can_answer_survey(actor, ticket, answered=answered)


def _rating(value, field: str) -> int:
    label = RATING_LABELS[field]
    if value is None or value == "":
        raise ValidationError(f"Choose a rating for {label}.", field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"The rating for {label} must be a whole number from {RATING_MIN} to {RATING_MAX}.",
                              field)
    if not RATING_MIN <= value <= RATING_MAX:
        raise ValidationError(f"The rating for {label} must be from {RATING_MIN} to {RATING_MAX}.", field)
    return value


def submit_survey(session: Session, actor, ticket, *, speed, effectiveness, communication,
                  comment: str = "", now: datetime | None = None) -> SurveyResponse:
    """Store the requester's answer and its SURVEY event; flush, never commit."""
    require_can_answer(session, actor, ticket)
    ratings = {"speed": _rating(speed, "speed"),
               "effectiveness": _rating(effectiveness, "effectiveness"),
               "communication": _rating(communication, "communication")}
    comment = clean_text(comment, field="comment", limit=COMMENT_MAX)
    now = now or utcnow()
    response = SurveyResponse(ticket_id=ticket.id, respondent_id=actor.id, agent_id=ticket.assignee_id,
                              team_id=ticket.team_id, comment=comment, created_at=now, **ratings)
    try:
        with session.begin_nested():  # a concurrent answer loses on the unique constraint only
            session.add(response)
            session.flush()
    except IntegrityError:
        raise InvalidTransition(ALREADY_RATED) from None
    record_event(session, actor, ticket, SURVEY, data=ratings, now=now)
    return response


def get_survey(session: Session, actor, ticket) -> SurveyResponse | None:
    """The answer, for the requester and the staff who can see the ticket."""
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    return session.scalar(select(SurveyResponse).where(SurveyResponse.ticket_id == ticket.id))


# --- reporting -----------------------------------------------------------------------------

def _overall():
    total = SurveyResponse.speed + SurveyResponse.effectiveness + SurveyResponse.communication
    return func.avg(cast(total, Float) / 3.0)


def _averages():
    return (func.count(SurveyResponse.id).label("count"),
            func.avg(cast(SurveyResponse.speed, Float)).label("speed"),
            func.avg(cast(SurveyResponse.effectiveness, Float)).label("effectiveness"),
            func.avg(cast(SurveyResponse.communication, Float)).label("communication"),
            _overall().label("overall"))


def _survey_filters(since, until, team_id, agent_id) -> list:
    conds = []
    if since is not None:
        conds.append(SurveyResponse.created_at >= since)
    if until is not None:
        conds.append(SurveyResponse.created_at < until)
    if team_id is not None:
        conds.append(SurveyResponse.team_id == team_id)
    if agent_id is not None:
        conds.append(SurveyResponse.agent_id == agent_id)
    return conds


def _closed_filters(since, until, team_id, agent_id) -> list:
    conds = [Ticket.status == CLOSED]
    if since is not None:
        conds.append(Ticket.closed_at >= since)
    if until is not None:
        conds.append(Ticket.closed_at < until)
    if team_id is not None:
        conds.append(Ticket.team_id == team_id)
    if agent_id is not None:
        conds.append(Ticket.assignee_id == agent_id)
    return conds


def _row(row, *, closed=None, answered=None) -> dict:
    out = {k: getattr(row, k) for k in ("count", "speed", "effectiveness", "communication", "overall")}
    out["count"] = out["count"] or 0
    if closed is not None:
        out["closed"] = closed
        out["answered"] = answered or 0
        out["response_rate"] = (answered or 0) / closed if closed else None
    return out


def _closed_counts(session, group_col, conds) -> dict:
    """closed tickets and how many of them were answered, per group (None: no grouping)."""
    cols = [func.count(Ticket.id), func.count(SurveyResponse.id)]
    stmt = (select(*([group_col] if group_col is not None else []), *cols)
            .select_from(Ticket).outerjoin(SurveyResponse, SurveyResponse.ticket_id == Ticket.id).where(*conds))
    if group_col is None:
        closed, answered = session.execute(stmt).one()
        return {None: (closed, answered)}
    return {key: (closed, answered) for key, closed, answered in session.execute(stmt.group_by(group_col))}


def satisfaction_summary(session: Session, *, since: datetime | None = None, until: datetime | None = None,
                         team_id: int | None = None, agent_id: int | None = None) -> dict:
    """Counts and averages of the surveys answered in ``[since, until)``, overall and per
    agent and per team (SQL aggregates). The response rate is over the tickets *closed* in
    the period: how many of them have an answer (whenever it came), so it never exceeds 1.
    Agent and team are the ones tied to the answer; for closed tickets, the ticket's own."""
    s_conds = _survey_filters(since, until, team_id, agent_id)
    c_conds = _closed_filters(since, until, team_id, agent_id)
    closed, answered = _closed_counts(session, None, c_conds)[None]
    totals = _row(session.execute(select(*_averages()).where(*s_conds)).one(), closed=closed, answered=answered)

    agent_closed = _closed_counts(session, Ticket.assignee_id, c_conds)
    by_agent = []
    for row in session.execute(select(SurveyResponse.agent_id, User.name, *_averages())
                               .outerjoin(User, User.id == SurveyResponse.agent_id).where(*s_conds)
                               .group_by(SurveyResponse.agent_id, User.name)):
        c, a = agent_closed.get(row.agent_id, (0, 0))
        by_agent.append({"agent_id": row.agent_id, "name": row.name, **_row(row, closed=c, answered=a)})

    team_closed = _closed_counts(session, Ticket.team_id, c_conds)
    teams = {t.id: t for t in session.scalars(select(Team))}
    by_team = []
    for row in session.execute(select(SurveyResponse.team_id, *_averages()).where(*s_conds)
                               .group_by(SurveyResponse.team_id)):
        c, a = team_closed.get(row.team_id, (0, 0))
        by_team.append({"team_id": row.team_id, "team": teams.get(row.team_id), **_row(row, closed=c, answered=a)})

    worst_first = lambda r: (r["overall"], -r["count"])  # noqa: E731 - where attention is needed
    return {**totals, "by_agent": sorted(by_agent, key=worst_first), "by_team": sorted(by_team, key=worst_first)}


@dataclass(frozen=True)
class Comment:
    survey: SurveyResponse
    ticket: Ticket
    agent: User | None
    team: Team | None


@dataclass(frozen=True)
class CommentPage(Paged):
    """Shaped like Flask-SQLAlchemy's pagination so the ``pager`` macro can use it."""
    items: list[Comment]
    page: int
    per_page: int
    total: int


def recent_comments(session: Session, limit: int = 20, page: int = 1, *, since: datetime | None = None,
                    until: datetime | None = None, team_id: int | None = None,
                    agent_id: int | None = None) -> CommentPage:
    """Answers that carry a comment, newest first (same filters as the summary)."""
    limit = max(1, min(int(limit), 100))
    page = max(1, int(page))
    conds = [SurveyResponse.comment != "", *_survey_filters(since, until, team_id, agent_id)]
    total = session.scalar(select(func.count(SurveyResponse.id)).where(*conds)) or 0
    agent = aliased(User)
    rows = session.execute(
        select(SurveyResponse, Ticket, agent, Team)
        .join(Ticket, Ticket.id == SurveyResponse.ticket_id)
        .outerjoin(agent, agent.id == SurveyResponse.agent_id)
        .outerjoin(Team, Team.id == SurveyResponse.team_id)
        .where(*conds)
        .order_by(SurveyResponse.created_at.desc(), SurveyResponse.id.desc())
        .limit(limit).offset((page - 1) * limit))
    return CommentPage([Comment(*r) for r in rows], page, limit, total)


def report_filter_choices(session: Session) -> tuple[list[Team], list[User]]:
    """Teams, and the people an answer can be tied to (anyone who was an agent on one)."""
    teams = list(session.scalars(select(Team).order_by(Team.name)))
    agent_ids = select(SurveyResponse.agent_id).where(SurveyResponse.agent_id.is_not(None)).distinct()
    staff = {r.value for r in permissions.WORKER_ROLES}
    agents = list(session.scalars(select(User).where((User.id.in_(agent_ids)) | (User.role.in_(staff)))
                                  .order_by(User.name)))
    return teams, agents

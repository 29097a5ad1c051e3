"""Satisfaction insights: the survey's three dimensions (response speed, effectiveness,
communication/attitude) over time and per team and agent, always with the number of
answers beside the mean (a 2.0 from one answer is not a trend).

Surveys count by the day they were **answered** in the period; the team, category and channel
filters apply to the surveyed ticket, the team and agent of a row are the ones recorded with
the answer (who handled it then). Each figure is one grouped statement.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.insights import NONE_LABEL, Filters, buckets, scope
from kb.teams import Team
from kb.ticket_records import SurveyResponse
from kb.tickets import Ticket
from kb.users import User

DIMENSIONS = ("speed", "effectiveness", "communication")
GROUPS = ("team", "agent")


@dataclass(frozen=True)
class Trend:
    """Mean ratings per bucket (None where nobody answered) and the answers per bucket."""

    labels: list[str]
    means: dict[str, list[float | None]]
    answers: list[int]

    def rows(self) -> list[list]:
        head = ["", "answers", *DIMENSIONS]
        return [head] + [[label, self.answers[i], *("" if self.means[d][i] is None else round(self.means[d][i], 2)
                                                     for d in DIMENSIONS)]
                         for i, label in enumerate(self.labels)]


@dataclass(frozen=True)
class Rating:
    """One team's or agent's answers in the period."""

    name: str
    id: int | None
    answers: int
    speed: float
    effectiveness: float
    communication: float

    @property
    def overall(self) -> float:
        return (self.speed + self.effectiveness + self.communication) / 3


def _conds(f: Filters) -> list:
    return [SurveyResponse.created_at >= f.start, SurveyResponse.created_at < f.end, *scope(f, period=False)]


def _means():
    return [func.avg(cast(getattr(SurveyResponse, d), Float)) for d in DIMENSIONS]


def trend(session: Session, actor, f: Filters) -> Trend:
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    labels, bucket_of = buckets(f)
    day = func.date(SurveyResponse.created_at)
    sums = [[0.0] * len(labels) for _ in DIMENSIONS]
    answers = [0] * len(labels)
    for d, n, *means in session.execute(
            select(day, func.count(SurveyResponse.id), *_means())
            .join(Ticket, Ticket.id == SurveyResponse.ticket_id).where(*_conds(f)).group_by(day)):
        i = bucket_of[str(d)[:10]]
        answers[i] += n
        for k, mean in enumerate(means):
            sums[k][i] += float(mean) * n  # weighted, so a week's mean is over its answers
    return Trend(labels=labels, answers=answers,
                 means={d: [sums[k][i] / answers[i] if answers[i] else None for i in range(len(labels))]
                        for k, d in enumerate(DIMENSIONS)})


def ratings(session: Session, actor, f: Filters, *, by: str = "team") -> list[Rating]:
    """Per team or agent, the lowest-rated first (where attention is needed)."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    return _ratings(session, f, by)


def agent_ratings(session: Session, f: Filters, agent_ids: list[int]) -> list[Rating]:
    """These agents' ratings only; the caller checked :func:`kb.permissions.can_view_performance`."""
    return _ratings(session, f, "agent", [SurveyResponse.agent_id.in_(agent_ids)])


def _ratings(session: Session, f: Filters, by: str, extra: list = ()) -> list[Rating]:
    key = SurveyResponse.team_id if by == "team" else SurveyResponse.agent_id
    rows = session.execute(select(key, func.count(SurveyResponse.id), *_means())
                           .join(Ticket, Ticket.id == SurveyResponse.ticket_id).where(*_conds(f), *extra)
                           .group_by(key)).all()
    ids = [r[0] for r in rows if r[0] is not None]
    model = Team if by == "team" else User
    names = dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all()) if ids else {}
    out = [Rating(names.get(k, NONE_LABEL) if k is not None else NONE_LABEL, k, n, *(float(m) for m in means))
           for k, n, *means in rows]
    return sorted(out, key=lambda r: (r.overall, -r.answers))

"""The periodic review (issue 6): a week's or a month's indicators compared with the period
before, the top recurring problems, the worst SLA areas, the lowest-rated interactions, the
content gaps, and the actions they suggest. It is built from the same figures as the
dashboards (kb.insight_*), frozen as JSON in ``insight_review`` (what the leads were sent is
what the archive shows), and at most once per period and kind: the unique key is the guard
when two workers try at once.

The portal renders it (HTML page, mail, CSV) and the worker schedules it
(:func:`due_periods`); the command line is ``flask insights report``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, Integer, String, Text, UniqueConstraint, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kb import insight_figures, insight_problems, insight_self_service, insight_sla, permissions
from kb.db import Base, UTCDateTime, utcnow
from kb.errors import NotFound, ValidationError
from kb.insights import Filters, scope
from kb.teams import Team
from kb.ticket_records import SurveyResponse
from kb.tickets import Ticket
from kb.users import Role, User

KINDS = ("week", "month")
TOP = 5                  # problems, SLA areas, low ratings and gaps listed
MIN_PROBLEM = 3          # tickets before a problem without an article asks for one
MIN_GAP = 2              # sessions before a content gap asks for an article
SLA_AT_RISK = 0.9        # compliance under this is an SLA area to look at
MIN_ANSWERS = 5          # survey answers before a fall in satisfaction is news
RATING_FALL = 0.3        # mean rating points
REOPEN_RISE = 0.05       # reopen rate points
LOW_RATING = 3           # a survey answer with any dimension at or under this is "low"


class InsightReview(Base):
    """One review as it was built and sent (``data``: the :class:`Review` as JSON)."""

    __tablename__ = "insight_review"
    __table_args__ = (UniqueConstraint("kind", "since", name="uq_insight_review_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    since: Mapped[date] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date)
    data: Mapped[str] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def review(self) -> "Review":
        return Review.from_json(self.data)


@dataclass
class Figure:
    """One number of the period beside the previous period's. ``good`` is the direction
    that is better ("up", "down", or "" when neither is: the volume)."""

    key: str
    current: float | None
    previous: float | None
    unit: str        # "count", "rate" (0-1) or "rating" (1-5)
    good: str = ""
    basis: int | None = None   # what a rate or mean is over (tickets, clocks, answers)

    @property
    def change(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def verdict(self) -> str:
        """"better", "worse" or "" (no comparison, no direction or no change)."""
        change = self.change
        if not self.good or not change:
            return ""
        return "better" if (change > 0) == (self.good == "up") else "worse"


@dataclass
class Review:
    kind: str
    since: str           # ISO days, inclusive
    until: str
    previous_since: str
    previous_until: str
    created_at: str
    figures: list[Figure] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)    # title, count, previous, trend, article, tickets, ticket_ids
    sla_areas: list[dict] = field(default_factory=list)   # team, team_id, clock, met, missed, compliance
    low_ratings: list[dict] = field(default_factory=list)  # ticket_id, reference, title, agent, team, ratings, comment
    gaps: list[dict] = field(default_factory=list)         # query, sessions, tickets, abandoned, wordings
    actions: list[dict] = field(default_factory=list)      # kind, with the numbers its sentence needs

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Review":
        data = json.loads(text)
        data["figures"] = [Figure(**f) for f in data.get("figures", [])]
        return cls(**data)

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def rows(self) -> list[list]:
        """Every number of the review, for the CSV."""
        out = [["section", "item", "this period", "previous period", "change", "basis"]]
        for f in self.figures:
            out.append(["indicator", f.key, _num(f.current), _num(f.previous), _num(f.change), _num(f.basis)])
        for p in self.problems:
            out.append(["recurring problem", p["title"], p["count"], p["previous"], p["trend"], p["article"] or ""])
        for a in self.sla_areas:
            out.append(["sla area", f"{a['team']}: {a['clock']}", _num(a["compliance"]), "", f"missed {a['missed']}",
                        a["met"] + a["missed"]])
        for r in self.low_ratings:
            out.append(["low rating", f"{r['reference']} {r['title']}", "/".join(str(v) for v in r["ratings"]), "",
                        r["agent"] or "", r["comment"]])
        for g in self.gaps:
            out.append(["content gap", g["query"], g["sessions"], "", f"tickets {g['tickets']}",
                        " | ".join(g["wordings"])])
        for a in self.actions:
            out.append(["action", a["kind"], a.get("subject", ""), "", a.get("count", ""), ""])
        return out


def _num(value):
    if value is None:
        return ""
    return round(value, 4) if isinstance(value, float) else value


# -- periods -------------------------------------------------------------------------------

def period_bounds(kind: str, today: date) -> tuple[date, date]:
    """The last complete week (Monday to Sunday) or calendar month before ``today``."""
    if kind == "week":
        until = today - timedelta(days=today.weekday() + 1)
        return until - timedelta(days=6), until
    if kind == "month":
        until = today.replace(day=1) - timedelta(days=1)
        return until.replace(day=1), until
    raise ValidationError("The period is week or month.", "period")


def previous_bounds(kind: str, since: date) -> tuple[date, date]:
    """The period just before the one starting ``since``."""
    return period_bounds(kind, since)


def due_periods(session: Session, kinds, today: date) -> list[tuple[str, date, date]]:
    """The periods of ``kinds`` that have ended and have no review yet (the worker's list)."""
    due = []
    for kind in kinds:
        since, until = period_bounds(kind, today)
        if session.scalar(select(InsightReview.id).where(InsightReview.kind == kind,
                                                         InsightReview.since == since)) is None:
            due.append((kind, since, until))
    return due


# -- building ------------------------------------------------------------------------------

def build_review(session: Session, actor, kind: str, *, today: date | None = None, since: date | None = None,
                 embedder=None, now: datetime | None = None) -> Review:
    """The review of the last complete ``kind`` period before ``today`` (or of the period
    starting ``since``), against the one before it. ``embedder`` clusters the recurring
    problems and content gaps (None leaves both out)."""
    permissions.require(permissions.can_view_reports(actor), "Reviews are for team leads and admins.")
    if kind not in KINDS:
        raise ValidationError("The period is week or month.", "period")
    now = now or utcnow()
    if since is None:
        since, until = period_bounds(kind, today or now.date())
    else:
        until = (since + timedelta(days=6)) if kind == "week" else \
            (since.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    psince, puntil = previous_bounds(kind, since)
    cur, prev = Filters(since=since, until=until), Filters(since=psince, until=puntil)
    review = Review(kind=kind, since=since.isoformat(), until=until.isoformat(), previous_since=psince.isoformat(),
                    previous_until=puntil.isoformat(), created_at=now.isoformat(timespec="seconds"))
    review.figures = _figures(session, actor, cur, prev, now)
    sla = insight_sla.sla_figures(session, actor, cur)
    review.sla_areas = _sla_areas(sla)
    review.low_ratings = _low_ratings(session, cur)
    if embedder is not None:
        review.problems = _problems(session, actor, cur, embedder)
        review.gaps = [{"query": g.example, "sessions": g.sessions, "tickets": g.tickets, "abandoned": g.abandoned,
                        "wordings": g.queries[1:4]}
                       for g in insight_self_service.content_gaps(session, cur, embedder)[0][:TOP]]
    review.actions = suggest_actions(review)
    return review


def _figures(session: Session, actor, cur: Filters, prev: Filters, now: datetime) -> list[Figure]:
    (ind, _), (pind, _) = (insight_figures.period_figures(session, actor, f) for f in (cur, prev))
    sla, psla = (insight_sla.sla_figures(session, actor, f) for f in (cur, prev))
    ss, pss = (insight_self_service.self_service(session, actor, f, now=now).stats for f in (cur, prev))

    def decided(figures, clock):
        return sum(c.met + c.missed for c in figures.of(clock))

    return [
        Figure("tickets filed", ind.filed, pind.filed, "count"),
        Figure("resolution rate", ind.resolution_rate, pind.resolution_rate, "rate", "up", ind.filed),
        Figure("reopen rate", ind.reopen_rate, pind.reopen_rate, "rate", "down", ind.resolved),
        Figure("first-contact resolution", ind.first_contact_rate, pind.first_contact_rate, "rate", "up",
               ind.resolved),
        Figure("response target met", sla.compliance("response"), psla.compliance("response"), "rate", "up",
               decided(sla, "response")),
        Figure("resolution target met", sla.compliance("resolution"), psla.compliance("resolution"), "rate", "up",
               decided(sla, "resolution")),
        Figure("satisfaction: response speed", ind.speed, pind.speed, "rating", "up", ind.surveys),
        Figure("satisfaction: effectiveness", ind.effectiveness, pind.effectiveness, "rating", "up", ind.surveys),
        Figure("satisfaction: communication", ind.communication, pind.communication, "rating", "up", ind.surveys),
        Figure("self-service sessions", ss.sessions, pss.sessions, "count"),
        Figure("honest deflection rate", ss.honest_rate, pss.honest_rate, "rate", "up", ss.sessions),
    ]


def _sla_areas(sla: insight_sla.SlaFigures) -> list[dict]:
    """Team and clock pairs that missed targets, the most misses first."""
    areas = []
    for name, team_id, counts in sla.by_team:
        for clock in insight_sla.CLOCKS:
            met, missed = counts[clock]
            if missed:
                areas.append({"team": name, "team_id": team_id, "clock": clock, "met": met, "missed": missed,
                              "compliance": met / (met + missed)})
    areas.sort(key=lambda a: (-a["missed"], a["compliance"], a["team"]))
    return areas[:TOP]


def _low_ratings(session: Session, f: Filters) -> list[dict]:
    """The period's survey answers with a dimension at or under LOW_RATING, the worst first."""
    total = SurveyResponse.speed + SurveyResponse.effectiveness + SurveyResponse.communication
    low = or_(SurveyResponse.speed <= LOW_RATING, SurveyResponse.effectiveness <= LOW_RATING,
              SurveyResponse.communication <= LOW_RATING)
    rows = session.execute(
        select(SurveyResponse, Ticket).join(Ticket, Ticket.id == SurveyResponse.ticket_id)
        .where(SurveyResponse.created_at >= f.start, SurveyResponse.created_at < f.end, low,
               *scope(f, period=False))
        .order_by(total, SurveyResponse.created_at.desc(), SurveyResponse.id).limit(TOP)).all()
    people = {u.id: u.name for u in session.scalars(select(User).where(
        User.id.in_({r.agent_id for r, _ in rows if r.agent_id})))}
    teams = {t.id: t.name for t in session.scalars(select(Team).where(
        Team.id.in_({r.team_id for r, _ in rows if r.team_id})))}
    return [{"ticket_id": t.id, "reference": t.reference, "title": t.title, "agent": people.get(r.agent_id),
             "team": teams.get(r.team_id), "ratings": [r.speed, r.effectiveness, r.communication],
             "comment": (r.comment or "").strip()[:500]} for r, t in rows]


def _problems(session: Session, actor, f: Filters, embedder) -> list[dict]:
    found = insight_problems.recurring_problems(session, actor, f, embedder=embedder)
    return [{"title": p.title, "count": p.count, "previous": p.previous, "trend": p.trend,
             "article": p.article.title if p.article else None, "article_id": p.article.id if p.article else None,
             "tickets": [t.reference for t in p.tickets[:4]], "draft_ids": p.draft_ids}
            for p in found.problems[:TOP]]


def suggest_actions(review: Review) -> list[dict]:
    """What the numbers ask for, the most pressing first. Each action is a kind and the
    numbers of its sentence (the portal words it in the reader's language)."""
    actions = []
    for p in review.problems:
        if p["article"] is None and p["count"] >= MIN_PROBLEM:
            actions.append({"kind": "draft_article", "subject": p["title"], "count": p["count"],
                            "previous": p["previous"], "trend": p["trend"], "ticket_ids": p["draft_ids"],
                            "weight": p["count"] * (2 if p["trend"] in ("new", "growing") else 1)})
        elif p["article"] is not None and p["trend"] == "growing":
            actions.append({"kind": "check_article", "subject": p["title"], "article": p["article"],
                            "article_id": p["article_id"], "count": p["count"], "previous": p["previous"],
                            "weight": p["count"]})
    for a in review.sla_areas:
        if a["compliance"] < SLA_AT_RISK and a["missed"] >= 2:
            actions.append({"kind": "sla_area", "subject": a["team"], "team_id": a["team_id"], "clock": a["clock"],
                            "count": a["missed"], "compliance": a["compliance"], "weight": a["missed"] * 2})
    for g in review.gaps:
        if g["sessions"] >= MIN_GAP:
            actions.append({"kind": "content_gap", "subject": g["query"], "count": g["sessions"],
                            "weight": g["sessions"]})
    for key in ("satisfaction: response speed", "satisfaction: effectiveness", "satisfaction: communication"):
        f = review.figure(key)
        if f and f.change is not None and f.change <= -RATING_FALL and (f.basis or 0) >= MIN_ANSWERS:
            actions.append({"kind": "satisfaction_fell", "subject": key, "count": f.basis, "current": f.current,
                            "previous": f.previous, "weight": 5})
    f = review.figure("reopen rate")
    if f and f.change is not None and f.change >= REOPEN_RISE and (f.basis or 0) >= 10:
        actions.append({"kind": "reopens_rose", "subject": "reopen rate", "count": f.basis, "current": f.current,
                        "previous": f.previous, "weight": 4})
    actions.sort(key=lambda a: -a["weight"])
    return actions


# -- storing -------------------------------------------------------------------------------

def review_recipients(session: Session) -> list[User]:
    """Who is sent the review: the active leads, and admins named lead of a team (the review
    covers every team, so it goes to those who may see every team's figures)."""
    team_leads = select(Team.lead_id).where(Team.lead_id.is_not(None))
    return list(session.scalars(select(User).where(User.active.is_(True), or_(
        User.role == Role.LEAD.value, (User.role == Role.ADMIN.value) & User.id.in_(team_leads))).order_by(User.id)))


def store_review(session: Session, review: Review, recipients: int = 0) -> InsightReview:
    """Keep the review (flushes; the unique period key refuses a second one)."""
    row = InsightReview(kind=review.kind, since=date.fromisoformat(review.since),
                        until=date.fromisoformat(review.until), data=review.to_json(), recipients=recipients)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class ReviewEntry:
    id: int
    kind: str
    since: date
    until: date
    recipients: int
    created_at: datetime


def list_reviews(session: Session, actor, *, limit: int = 100) -> list[ReviewEntry]:
    permissions.require(permissions.can_view_reports(actor), "Reviews are for team leads and admins.")
    rows = session.execute(select(InsightReview.id, InsightReview.kind, InsightReview.since, InsightReview.until,
                                  InsightReview.recipients, InsightReview.created_at)
                           .order_by(InsightReview.since.desc(), InsightReview.kind).limit(limit)).all()
    return [ReviewEntry(*r) for r in rows]


def get_review(session: Session, actor, review_id: int) -> InsightReview:
    permissions.require(permissions.can_view_reports(actor), "Reviews are for team leads and admins.")
    row = session.get(InsightReview, review_id)
    if row is None:
        raise NotFound("No such review.")
    return row


def review_count(session: Session) -> int:
    return session.scalar(select(func.count(InsightReview.id))) or 0

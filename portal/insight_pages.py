"""The insights pages beyond the overview (portal/insights.py): service levels and satisfaction,
self-service, recurring problems, and people (agent performance, accountability, recognition).

Each page reads one kb.insight_* module; the filters, the tabs and the CSV export are shared
with the overview. The people page is also an agent's own page: an agent sees their own row
only (kb.permissions.can_view_performance), leads and admins see their agents and the
accountability and recognition lists.
"""
from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from kb import insight_people, insight_problems, insight_satisfaction, insight_self_service, insight_sla, permissions
from kb.ticket_events import TicketEvent
from portal.charts import grouped_bars, line_chart, minutes_text, stacked_bars
from portal.extensions import db
from portal.insights import bp, filters, page_context
from portal.search_ext import holder
from portal.security import actor
from portal.tickets.labels import PRIORITY_LABELS, describe_event

CLOCK_NAMES = {"response": _l("First response"), "resolution": _l("Resolution")}
CLOCK_COLORS = {"response": "#2563eb", "resolution": "#8b5cf6"}
TIME_NAMES = {"median": _l("Median"), "p90": _l("90th percentile")}
TIME_COLORS = {"median": "#60a5fa", "p90": "#1d4ed8"}
DIMENSION_NAMES = {"speed": _l("Response speed"), "effectiveness": _l("Effectiveness"),
                   "communication": _l("Communication and attitude")}
OUTCOME_NAMES = {"deflected": _l("Solved by an article"), "ticket": _l("Filed a ticket"),
                 "abandoned": _l("Left without either"), "open": _l("Still open")}
OUTCOME_COLORS = {"deflected": "#10b981", "ticket": "#2563eb", "abandoned": "#9ca3af", "open": "#f59e0b"}
KIND_NAMES = {"response breach": _l("First response late"), "resolution breach": _l("Resolution late"),
              "commitment missed": _l("Promised completion passed"), "not acknowledged": _l("Not acknowledged")}
TREND_NAMES = {"growing": _l("growing"), "shrinking": _l("shrinking"), "steady": _l("steady"), "new": _l("new")}


def _reports_only() -> None:
    permissions.require(permissions.can_view_reports(actor()), _("Insights are for team leads and admins."))


def sla_charts(figures: insight_sla.SlaFigures) -> dict:
    """Times against targets per clock (grouped bars, dashed targets) and breaches by team."""
    priorities = {k: str(v) for k, v in PRIORITY_LABELS.items()}
    drawn = {}
    for clock in insight_sla.CLOCKS:
        rows = figures.of(clock)
        drawn[clock] = grouped_bars(
            [priorities.get(c.priority, c.priority) for c in rows],
            [("median", [c.median for c in rows]), ("p90", [c.p90 for c in rows])],
            targets=[c.target for c in rows], names={k: str(v) for k, v in TIME_NAMES.items()}, colors=TIME_COLORS,
            fmt=minutes_text, target_name=_("target"))
        drawn[clock].empty_text = _("No clock stopped in this view.")
    drawn["breaches"] = stacked_bars(figures.breaches_chart(), names={k: str(v) for k, v in CLOCK_NAMES.items()},
                                     colors=CLOCK_COLORS)
    drawn["breaches"].empty_text = _("No target was missed in this view.")
    return drawn


@bp.get("/service")
@login_required
def service():
    _reports_only()
    f, _by, args = filters()
    who = actor()
    figures = insight_sla.sla_figures(db.session, who, f)
    trend = insight_satisfaction.trend(db.session, who, f)
    drawn = sla_charts(figures)
    drawn["satisfaction"] = line_chart(trend.labels, [(d, trend.means[d]) for d in insight_satisfaction.DIMENSIONS],
                                       y_min=1, y_max=5, names={k: str(v) for k, v in DIMENSION_NAMES.items()})
    drawn["satisfaction"].empty_text = _("No survey answered in this view.")
    return render_template("insights/service.html", figures=figures, trend=trend, drawn=drawn,
                           teams_rated=insight_satisfaction.ratings(db.session, who, f, by="team"),
                           agents_rated=insight_satisfaction.ratings(db.session, who, f, by="agent"),
                           clock_names=CLOCK_NAMES, time_names=TIME_NAMES, dimension_names=DIMENSION_NAMES,
                           priority_names=PRIORITY_LABELS, minutes_text=minutes_text, **page_context(f, args))


@bp.get("/self-service")
@login_required
def self_service():
    _reports_only()
    f, _by, args = filters()
    out = insight_self_service.self_service(db.session, actor(), f, embedder=holder().embedder())
    drawn = stacked_bars(out.sessions, names={k: str(v) for k, v in OUTCOME_NAMES.items()}, colors=OUTCOME_COLORS)
    drawn.empty_text = _("Nobody used Get help in this period.")
    return render_template("insights/self_service.html", out=out, drawn=drawn, outcome_names=OUTCOME_NAMES,
                           **page_context(f, args))


@bp.get("/problems")
@login_required
def problems():
    _reports_only()
    f, _by, args = filters()
    out = insight_problems.recurring_problems(db.session, actor(), f, embedder=holder().embedder())
    return render_template("insights/problems.html", out=out, trend_names=TREND_NAMES,
                           can_draft=permissions.can_review_article(actor()), **page_context(f, args))


@bp.get("/people")
@login_required
def people():
    who = actor()
    permissions.require(permissions.is_staff(who), _("Performance figures are for the support staff."))
    f, _by, args = filters()
    lead_view = permissions.can_view_reports(who)
    agents = insight_people.agent_performance(db.session, who, f)
    items = insight_people.accountability(db.session, who, f) if lead_view else []
    names = _event_names(items)
    trails = [[(e.created_at, describe_event(e, names)) for e in item.trail] for item in items]
    return render_template("insights/people.html", agents=agents, items=items, trails=trails, lead_view=lead_view,
                           recognition=insight_people.recognition(db.session, who, f) if lead_view else None,
                           kind_names=KIND_NAMES, clock_names=CLOCK_NAMES, minutes_text=minutes_text,
                           **page_context(f, args))


def _event_names(items) -> dict[int, str]:
    """Names of the people in the trails (one query)."""
    from sqlalchemy import select

    from kb.users import User

    ids = {e.actor_id for item in items for e in item.trail if isinstance(e, TicketEvent) and e.actor_id}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}



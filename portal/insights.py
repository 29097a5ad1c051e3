"""Insights for leads and admins (/insights/): the headline indicators, ticket volume over time and
the backlog, drawn as server-side SVG charts with their numbers one click away and a CSV export
of each (kb.insights)."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from kb import (insight_figures, insight_people, insight_problems, insight_satisfaction, insight_self_service,
                insight_sla, insights, permissions)
from kb.errors import ValidationError
from kb.sla_report import report_teams
from kb.taxonomy import top_categories
from kb.tickets import CHANNELS
from portal.charts import PRIORITY_COLORS, stacked_bars
from portal.extensions import db
from portal.i18n import current_lang
from portal.period import period_from_args
from portal.search_ext import holder
from portal.security import actor
from portal.tickets.labels import CHANNEL_LABELS, PRIORITY_LABELS

bp = Blueprint("insights", __name__, url_prefix="/insights")
DEFAULT_DAYS = 30
GROUP_LABELS = {"category": _l("Category"), "channel": _l("Channel"), "priority": _l("Priority")}
TRIAGE_LABELS = [_l("Category"), _l("Priority"), _l("Team")]
TRIAGE_NAMES = {"kept": _l("Suggestion kept"), "changed by the requester": _l("Changed by the requester"),
                "corrected by staff": _l("Corrected by staff")}
TRIAGE_COLORS = {"kept": "#10b981", "changed by the requester": "#f59e0b", "corrected by staff": "#ef4444"}
AGE_LABELS = [_l("under 1 day"), _l("1–3 days"), _l("3–7 days"), _l("1–4 weeks"), _l("over 4 weeks")]
assert len(AGE_LABELS) == len(insights.AGE_BUCKETS)


def filters() -> tuple[insights.Filters, str, dict]:
    """The filters of the query string (a malformed one is a 400 saying what to fix)."""
    period = period_from_args(DEFAULT_DAYS)
    by = request.args.get("by") or "category"
    if by not in insights.GROUPINGS:
        abort(400, _("Group by category, channel or priority."))
    channel = request.args.get("channel") or None
    try:
        f = insights.Filters(since=period.since_day, until=period.until_day, team_id=request.args.get("team", type=int),
                             category_id=request.args.get("category", type=int), channel=channel)
    except ValidationError as exc:
        abort(400, str(exc))
    args = {"since": f.since.isoformat(), "until": f.until.isoformat(), "by": by}
    args.update({k: v for k, v in (("team", f.team_id), ("category", f.category_id), ("channel", channel)) if v})
    return f, by, args


def page_context(f: insights.Filters, args: dict) -> dict:
    """What every insights page's filter form and tabs need."""
    return {"f": f, "args": args, "tab_args": {k: v for k, v in args.items() if k != "by"}, "groups": GROUP_LABELS, "teams": report_teams(db.session),
            "categories": top_categories(db.session), "channels": CHANNELS, "channel_names": CHANNEL_LABELS}


def _names(by: str) -> dict:
    """What a series key is called on screen (category names come translated from kb)."""
    if by == "channel":
        return {k: str(v) for k, v in CHANNEL_LABELS.items()}
    if by == "priority":
        return {k: str(v) for k, v in PRIORITY_LABELS.items()}
    locale = current_lang()
    return {c.name: c.label(locale) for c in top_categories(db.session)}


def _volume(f: insights.Filters, by: str) -> insights.Chart:
    return insights.volume(db.session, actor(), f, by=by)


def _backlog(f: insights.Filters) -> insights.Chart:
    chart = insights.backlog(db.session, actor(), f)
    chart.labels = [str(label) for label in AGE_LABELS]
    return chart


def _period(f: insights.Filters):
    """The indicators and the triage chart (one statement for both)."""
    figures, triage = insight_figures.period_figures(db.session, actor(), f)
    triage.labels = [str(label) for label in TRIAGE_LABELS]
    return figures, triage


@bp.get("/")
@login_required
def dashboard():
    permissions.require(permissions.can_view_reports(actor()), _("Insights are for team leads and admins."))
    f, by, args = filters()
    figures, triage = _period(f)
    charts = {"volume": _volume(f, by), "backlog": _backlog(f), "triage": triage}
    names = {"volume": _names(by), "backlog": {k: str(v) for k, v in PRIORITY_LABELS.items()},
             "triage": {k: str(v) for k, v in TRIAGE_NAMES.items()}}
    colors = {"volume": PRIORITY_COLORS if by == "priority" else None, "backlog": PRIORITY_COLORS,
              "triage": TRIAGE_COLORS}
    drawn = {key: stacked_bars(chart, names=names[key], colors=colors[key]) for key, chart in charts.items()}
    return render_template("insights/dashboard.html", charts=charts, drawn=drawn, indicators=figures, names=names,
                           by=by, **page_context(f, args))


# Each CSV computes only its own figure: name -> (filters, grouping) -> something with rows().
EXPORTS = {
    "indicators": lambda f, by: _period(f)[0],
    "triage": lambda f, by: _period(f)[1],
    "volume": _volume,
    "backlog": lambda f, by: _backlog(f),
    "sla": lambda f, by: insight_sla.sla_figures(db.session, actor(), f),
    "satisfaction": lambda f, by: insight_satisfaction.trend(db.session, actor(), f),
    "self-service": lambda f, by: insight_self_service.self_service(db.session, actor(), f,
                                                                    embedder=holder().embedder()),
    "problems": lambda f, by: insight_problems.recurring_problems(db.session, actor(), f,
                                                                  embedder=holder().embedder()),
    "people": lambda f, by: insight_people.PeopleTable(insight_people.agent_performance(db.session, actor(), f)),
    "accountability": lambda f, by: insight_people.ItemTable(insight_people.accountability(db.session, actor(), f)),
}


@bp.get("/<name>.csv")
@login_required
def export(name: str):
    if name not in EXPORTS:
        abort(404)
    who = actor()
    if name == "people":  # an agent may export their own row
        permissions.require(permissions.is_staff(who), _("Performance figures are for the support staff."))
    else:
        permissions.require(permissions.can_view_reports(who), _("Insights are for team leads and admins."))
    f, by, _args = filters()
    rows = EXPORTS[name](f, by).rows()
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    filename = f"{name}-{f.since.isoformat()}-{f.until.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


from portal import insight_pages, insight_review  # noqa: E402,F401 - register the other pages on this blueprint

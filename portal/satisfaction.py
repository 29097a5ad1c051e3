"""The satisfaction report for team leads and admins: survey averages for a period, per
team and per agent, the response rate, and the latest comments."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from kb import permissions, surveys
from portal.extensions import db
from portal.period import period_from_args
from portal.security import actor

bp = Blueprint("satisfaction", __name__, url_prefix="/satisfaction")
DEFAULT_DAYS = 30
COMMENTS_PER_PAGE = 20
LOW_SCORE = 3.0  # an average below this is highlighted


@bp.get("/")
@login_required
def report():
    permissions.require(permissions.can_view_reports(actor()), _("The satisfaction report is for team leads and admins."))
    period = period_from_args(DEFAULT_DAYS)
    since_day, until_day = period.since_day, period.until_day
    team_id = request.args.get("team", type=int)
    agent_id = request.args.get("agent", type=int)
    page = max(1, request.args.get("page", 1, type=int))
    filters = {"since": period.since, "until": period.until, "team_id": team_id, "agent_id": agent_id}
    summary = surveys.satisfaction_summary(db.session, **filters)
    comments = surveys.recent_comments(db.session, COMMENTS_PER_PAGE, page, **filters)
    teams, agents = surveys.report_filter_choices(db.session)
    return render_template("satisfaction/report.html", summary=summary, comments=comments, teams=teams,
                           agents=agents, since=since_day, until=until_day, team_id=team_id, agent_id=agent_id,
                           low_score=LOW_SCORE)

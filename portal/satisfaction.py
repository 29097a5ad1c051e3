"""The satisfaction report for team leads and admins: survey averages for a period, per
team and per agent, the response rate, and the latest comments."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from kb import permissions, surveys
from kb.db import utcnow
from portal.extensions import db
from portal.security import actor

bp = Blueprint("satisfaction", __name__, url_prefix="/satisfaction")
DEFAULT_DAYS = 30
COMMENTS_PER_PAGE = 20
LOW_SCORE = 3.0  # an average below this is highlighted


def _day(raw: str | None, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, _("Dates look like 2025-01-31."))


@bp.get("/")
@login_required
def report():
    permissions.require(permissions.can_view_reports(actor()), _("The satisfaction report is for team leads and admins."))
    today = utcnow().date()
    since_day = _day(request.args.get("since"), today - timedelta(days=DEFAULT_DAYS))
    until_day = _day(request.args.get("until"), today)
    if until_day < since_day:
        abort(400, _("The end date is before the start date."))
    team_id = request.args.get("team", type=int)
    agent_id = request.args.get("agent", type=int)
    page = max(1, request.args.get("page", 1, type=int))
    period = {"since": datetime.combine(since_day, time.min, tzinfo=timezone.utc),
              "until": datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=timezone.utc),
              "team_id": team_id, "agent_id": agent_id}
    summary = surveys.satisfaction_summary(db.session, **period)
    comments = surveys.recent_comments(db.session, COMMENTS_PER_PAGE, page, **period)
    teams, agents = surveys.report_filter_choices(db.session)
    return render_template("satisfaction/report.html", summary=summary, comments=comments, teams=teams,
                           agents=agents, since=since_day, until=until_day, team_id=team_id, agent_id=agent_id,
                           low_score=LOW_SCORE)

"""Service reports for team leads and admins: /reports/sla, did tickets meet their targets."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from kb import permissions
from kb.sla.models import PRIORITIES
from kb.sla_report import report_teams, sla_report
from portal.extensions import db
from portal.period import period_from_args
from portal.security import actor
from portal.tickets.labels import PRIORITY_LABELS

bp = Blueprint("reports", __name__, url_prefix="/reports")
DEFAULT_DAYS = 30
PER_PAGE = 50


@bp.get("/sla")
@login_required
def sla():
    permissions.require(permissions.can_view_reports(actor()), _("The SLA report is for team leads and admins."))
    period = period_from_args(DEFAULT_DAYS)
    since, until = period.since_day, period.until_day
    priority = request.args.get("priority") or None
    team_id = request.args.get("team", type=int)
    report = sla_report(db.session, actor(), since=since, until=until, priority=priority, team_id=team_id,
                        page=request.args.get("page", 1, type=int), per_page=PER_PAGE)
    filters = {"since": since.isoformat(), "until": until.isoformat()}
    if priority:
        filters["priority"] = priority
    if team_id is not None:
        filters["team"] = team_id
    return render_template("reports/sla.html", report=report, teams=report_teams(db.session),
                           priorities=PRIORITIES, priority_names=PRIORITY_LABELS, priority=priority,
                           team_id=team_id, filters=filters)

"""The agent desk: queues with counts, filters, sorting and pages; workload and rebalancing for leads.

Every rule (who sees which queue, restricted tickets, who may reassign) is in kb.queues,
kb.routing and kb.permissions; these views only read the query string and render.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from kb import permissions, queues
from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.routing import REASON_MAX, agent_loads, reassign, rebalance_suggestions
from kb.taxonomy import Category
from kb.teams import Team
from kb.tickets import PRIORITY_KEYS, get_ticket
from kb.ticket_flow import OPEN_STATUSES, STATUSES
from kb.users import User
from portal.extensions import db
from portal.i18n import current_lang
from portal.security import actor
from portal.tickets.labels import PRIORITY_LABELS, STAFF_STATUS_LABELS

bp = Blueprint("desk", __name__, url_prefix="/desk")

QUEUE_LABELS = {"mine": _l("My tickets"), "team": _l("My teams"), "unassigned": _l("Unassigned"),
                "breaching": _l("Breaching soon"), "breached": _l("Breached"), "all_open": _l("All open")}
EMPTY = {"mine": _l("Nothing assigned to you is open. The unassigned queue may have something to pick up."),
         "team": _l("Your teams have no open tickets."),
         "unassigned": _l("Every open ticket has someone working on it."),
         "breaching": _l("No ticket is due within the next %(hours)s hours."),
         "breached": _l("No open ticket has missed its service-level target."),
         "all_open": _l("There are no open tickets.")}
SORT_LABELS = {"due": _l("Due"), "priority": _l("Priority"), "created": _l("Filed"), "updated": _l("Updated")}
FILTERS = ("q", "status", "priority", "category_id", "team_id", "assignee_id")
PER_PAGE = 25


def _require_desk():
    who = actor()
    permissions.require(permissions.can_use_desk(who), _("The desk is for agents, team leads and admins."))
    return who


def _due(ticket, now):
    """(state, text) for the due column: relative, coloured by kb.queues.due_state."""
    state = queues.due_state(ticket, now)
    when = ticket.next_due_at or ticket.breached_at
    if when is None:
        return state, ""
    text = format_timedelta(when - now, granularity="minute", add_direction=True)
    if ticket.breached_at is not None:
        text = _("breached %(when)s", when=format_timedelta(ticket.breached_at - now, granularity="minute",
                                                            add_direction=True))
    return state, text


def _people():
    return list(db.session.scalars(select(User).where(User.active.is_(True),
                                                     User.role.in_(("agent", "lead", "admin")))
                                   .order_by(User.name, User.id)))


def _categories():
    return list(db.session.scalars(select(Category).where(Category.parent_id.is_(None))
                                   .options(selectinload(Category.children)).order_by(Category.position)))


def _teams():
    return list(db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name)))


@bp.get("/")
@login_required
def index():
    _require_desk()
    return redirect(url_for("desk.queue", name="mine"))


@bp.get("/<name>")
@login_required
def queue(name: str):
    who = _require_desk()
    now = utcnow()
    counts = queues.queue_counts(db.session, who, now)
    args = request.args
    filters = {k: args.get(k, "").strip() for k in FILTERS if args.get(k, "").strip()}
    sort = args.get("sort") or "due"
    direction = args.get("dir") or None
    page = queues.list_queue(db.session, who, name, page=args.get("page", 1, type=int), per_page=PER_PAGE,
                             sort=sort, direction=direction, now=now, total=counts.get(name), **filters)
    direction = direction or queues.DEFAULT_DIRECTION[sort]
    empty = EMPTY[name] % {"hours": queues.BREACHING_HOURS} if name == "breaching" else EMPTY[name]
    return render_template(
        "desk/queue.html", name=name, page=page, counts=counts, filters=filters, sort=sort, direction=direction,
        queue_labels=QUEUE_LABELS, sort_labels=SORT_LABELS, empty_message=empty, due=lambda t: _due(t, now),
        status_labels=STAFF_STATUS_LABELS, priority_labels=PRIORITY_LABELS,
        open_statuses=[s for s in STATUSES if s in OPEN_STATUSES], priorities=PRIORITY_KEYS,
        categories=_categories(), teams=_teams(), people=_people(), locale=current_lang(),
        can_workload=permissions.can_assign_ticket(who))


# -- workload and rebalancing (team leads and admins) ------------------------------------------
class ReassignForm(FlaskForm):
    ticket_id = IntegerField(validators=[InputRequired()])
    assignee_id = IntegerField(_l("Give to"), validators=[InputRequired(message=_l("Choose who takes it."))])
    reason = StringField(_l("Reason"), validators=[DataRequired(message=_l("Give a reason.")),
                                                   Length(max=REASON_MAX)])


def _team_filter():
    raw = request.args.get("team_id", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError(_("The team filter must be a number, not %(value)s.", value=raw), "team_id")
    return int(raw)


@bp.get("/workload")
@login_required
def workload():
    who = _require_desk()
    team_id = _team_filter()
    rows = queues.workload(db.session, who, team_id=team_id)
    teams = _teams()
    return render_template("desk/workload.html", rows=rows, teams=teams, team_id=team_id,
                           team_names={t.id: t.label(current_lang()) for t in teams})


def _agent_load(user_id: int):
    for load in agent_loads(db.session):
        if load.user.id == user_id:
            return load
    raise NotFound(_("That person is not an agent in any team."))


def _rebalance(user_id: int, errors: dict | None = None, values: dict | None = None, status: int = 200):
    who = _require_desk()
    permissions.require(permissions.can_assign_ticket(who), _("Rebalancing is for team leads and admins."))
    load = _agent_load(user_id)
    tickets = queues.list_queue(db.session, who, "all_open", assignee_id=user_id, sort="priority",
                                per_page=queues.MAX_PER_PAGE).items
    members = {tid: agent_loads(db.session, tid) for tid in {t.team_id for t in tickets if t.team_id}}
    suggested = {}
    for tid in members:
        for ticket, _src, dst in rebalance_suggestions(db.session, tid):
            suggested[ticket.id] = dst.id
    now = utcnow()
    return render_template("desk/rebalance.html", load=load, tickets=tickets, members=members,
                           suggested=suggested, errors=errors or {}, values=values or {},
                           due=lambda t: _due(t, now), status_labels=STAFF_STATUS_LABELS,
                           priority_labels=PRIORITY_LABELS, reason_max=REASON_MAX), status


@bp.get("/workload/<int:user_id>")
@login_required
def rebalance(user_id: int):
    return _rebalance(user_id)


@bp.post("/workload/<int:user_id>/reassign")
@login_required
def reassign_ticket(user_id: int):
    who = _require_desk()
    permissions.require(permissions.can_assign_ticket(who), _("Rebalancing is for team leads and admins."))
    form = ReassignForm()
    ticket_id = form.ticket_id.data
    values = {ticket_id: {"assignee_id": form.assignee_id.data, "reason": form.reason.data or ""}}
    if not form.validate_on_submit():
        if ticket_id is None:
            raise ValidationError(_("Choose a ticket to reassign."), "ticket_id")
        message = " ".join(str(e) for errs in form.errors.values() for e in errs)
        return _rebalance(user_id, errors={ticket_id: message}, values=values, status=400)
    ticket = get_ticket(db.session, who, ticket_id)
    try:
        reassign(db.session, who, ticket, form.assignee_id.data, form.reason.data)
    except ValidationError as exc:
        db.session.rollback()
        return _rebalance(user_id, errors={ticket_id: str(exc)}, values=values, status=400)
    db.session.commit()
    flash(_("%(ref)s is now with %(name)s.", ref=ticket.reference, name=ticket.assignee.name), "success")
    return redirect(url_for("desk.rebalance", user_id=user_id))

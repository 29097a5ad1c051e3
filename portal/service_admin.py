"""Service configuration for admins: the priority matrix, teams (lead, members, owned
categories) and agent profiles (capacity, languages, skills); plus the triage accuracy
report for leads and admins. The rules live in kb.triage_service and kb.service_config."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from kb import permissions, service_config, triage_service
from kb.db import utcnow
from kb.errors import ValidationError
from kb.taxonomy import Category
from kb.teams import Team, TeamCategory
from kb.tickets import IMPACTS, PRIORITY_KEYS, URGENCIES
from kb.users import User
from portal.extensions import db
from portal.security import actor
from portal.tickets.labels import IMPACT_NAMES, PRIORITY_LABELS, PRIORITY_MEANINGS, URGENCY_NAMES

bp = Blueprint("service_admin", __name__, url_prefix="/admin/service")

REPORT_DAYS = (7, 30, 90, 365)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class MatrixForm(FlaskForm):
    """One select per impact x urgency cell, named ``<impact>__<urgency>``."""


for _i in IMPACTS:
    for _u in URGENCIES:
        setattr(MatrixForm, f"{_i}__{_u}", SelectField(
            _l("%(impact)s, %(urgency)s", impact=IMPACT_NAMES[_i], urgency=URGENCY_NAMES[_u]),
            choices=[SelectChoice(p, PRIORITY_LABELS[p]) for p in PRIORITY_KEYS]))
del _i, _u


class NewTeamForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    name_zh = StringField(_l("Chinese name"), validators=[Optional(), Length(max=120)])


class TeamForm(NewTeamForm):
    lead_id = SelectField(_l("Team lead"))
    active = BooleanField(_l("Active"))
    member_ids = MultiCheckboxField(_l("Members"), coerce=int)
    category_ids = MultiCheckboxField(_l("Owned categories"), coerce=int,
                                      description=_l("A subcategory without its own owner goes to its parent's team."))


class AgentForm(FlaskForm):
    capacity = IntegerField(_l("Capacity"),
                            validators=[DataRequired(), NumberRange(min=1, max=service_config.CAPACITY_MAX)],
                            description=_l("Weighted open tickets this agent can carry: "
                                           "high counts 3, medium 2, low 1."))
    languages = StringField(_l("Languages"), validators=[DataRequired(), Length(max=service_config.LANGUAGES_MAX)],
                            description=_l("Language codes separated by commas, e.g. en, zh."))
    skill_ids = MultiCheckboxField(_l("Skills"), coerce=int,
                                   description=_l("A top category covers all its subcategories."))


@bp.before_request
def only_allowed():
    who = actor()
    allowed = (permissions.can_view_reports(who) if request.endpoint == "service_admin.triage"
               else permissions.can_configure_service(who))
    if not allowed:
        abort(404 if who is None else 403)


def _category_choices() -> list[SelectChoice]:
    locale = str(get_locale())
    tops = db.session.scalars(select(Category).where(Category.parent_id.is_(None)).order_by(Category.position))
    out = []
    for top in tops:
        out.append(SelectChoice(top.id, top.label(locale)))
        out.extend(SelectChoice(c.id, f"{top.label(locale)} / {c.label(locale)}") for c in top.children)
    return out


def _field_error(form, exc: ValidationError, default: str) -> None:
    field = getattr(form, exc.field or "", None) or getattr(form, default)
    field.errors = list(field.errors) + [str(exc)]


@bp.route("/matrix", methods=["GET", "POST"])
def matrix():
    form = MatrixForm()
    if request.method == "GET":
        current = triage_service.matrix(db.session)
        for i in IMPACTS:
            for u in URGENCIES:
                form[f"{i}__{u}"].data = current[i][u].lower()
    if form.validate_on_submit():
        cells = {(i, u): form[f"{i}__{u}"].data for i in IMPACTS for u in URGENCIES}
        try:
            triage_service.set_matrix(db.session, actor(), cells)
        except ValidationError as exc:
            db.session.rollback()
            _field_error(form, exc, f"{IMPACTS[0]}__{URGENCIES[0]}")
            flash(_("The matrix was not saved: %(error)s", error=str(exc)), "error")
        else:
            db.session.commit()
            flash(_("Priority matrix saved."), "success")
            return redirect(url_for("service_admin.matrix"))
    return render_template("service_admin/matrix.html", form=form, impacts=IMPACTS, urgencies=URGENCIES,
                           impact_labels=IMPACT_NAMES, urgency_labels=URGENCY_NAMES,
                           priority_labels=PRIORITY_LABELS, meanings=PRIORITY_MEANINGS), (400 if form.errors else 200)


@bp.route("/teams", methods=["GET", "POST"])
def teams():
    form = NewTeamForm()
    if form.validate_on_submit():
        try:
            team = service_config.create_team(db.session, actor(), name=form.name.data, name_zh=form.name_zh.data or "")
        except ValidationError as exc:
            db.session.rollback()
            _field_error(form, exc, "name")
        else:
            db.session.commit()
            flash(_("Team %(name)s created.", name=team.name), "success")
            return redirect(url_for("service_admin.team", team_id=team.id))
    rows = service_config.list_teams(db.session)
    owned: dict[int, list[Category]] = {}
    for team_id, category in db.session.execute(
            select(TeamCategory.team_id, Category).join(Category, Category.id == TeamCategory.category_id)
            .order_by(Category.parent_id.is_not(None), Category.position)):
        owned.setdefault(team_id, []).append(category)
    return render_template("service_admin/teams.html", form=form, teams=rows, owned=owned,
                           locale=str(get_locale())), (400 if form.errors else 200)


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
def team(team_id: int):
    row = db.session.get(Team, team_id) or abort(404)
    form = TeamForm()
    form.lead_id.choices = [SelectChoice("", _("No lead"))] + [SelectChoice(str(u.id), f"{u.name} ({u.email})")
                                                               for u in service_config.eligible_leads(db.session)]
    form.member_ids.choices = [SelectChoice(u.id, f"{u.name} ({u.email})")
                               for u in service_config.eligible_members(db.session)]
    form.category_ids.choices = _category_choices()
    if request.method == "GET":
        form.name.data, form.name_zh.data, form.active.data = row.name, row.name_zh, row.active
        form.lead_id.data = str(row.lead_id) if row.lead_id else ""
        form.member_ids.data = [m.user_id for m in row.members]
        form.category_ids.data = service_config.team_category_ids(db.session, row)
    if form.validate_on_submit():
        try:
            service_config.update_team(db.session, actor(), row, name=form.name.data, name_zh=form.name_zh.data or "",
                                   lead_id=int(form.lead_id.data) if form.lead_id.data else None,
                                   active=form.active.data, member_ids=form.member_ids.data or [],
                                   category_ids=form.category_ids.data or [])
        except ValidationError as exc:
            db.session.rollback()
            _field_error(form, exc, "name")
        else:
            db.session.commit()
            flash(_("Team %(name)s saved.", name=row.name), "success")
            return redirect(url_for("service_admin.teams"))
    labels = {c.value: c.label for c in form.category_ids.choices}
    elsewhere = [(labels[cid], t.name) for cid, t in service_config.owners(db.session).items()
                 if t.id != row.id and cid in labels]
    return render_template("service_admin/team.html", form=form, team=row, elsewhere=sorted(elsewhere)), \
        (400 if form.errors else 200)


@bp.get("/agents")
def agents():
    from kb.routing import agent_loads

    people = service_config.eligible_members(db.session)
    loads = {a.user.id: a for a in agent_loads(db.session)}
    profiles = {u.id: service_config.profile_of(db.session, u) for u in people}
    return render_template("service_admin/agents.html", people=people, loads=loads, profiles=profiles)


@bp.route("/agents/<int:user_id>", methods=["GET", "POST"])
def agent(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    if user.role not in service_config.MEMBER_ROLES:
        abort(404)
    form = AgentForm()
    form.skill_ids.choices = _category_choices()
    if request.method == "GET":
        profile = service_config.profile_of(db.session, user)
        form.capacity.data, form.languages.data = profile.capacity, profile.languages
        form.skill_ids.data = service_config.skills_of(db.session, user)
    if form.validate_on_submit():
        try:
            service_config.update_agent_profile(db.session, actor(), user, capacity=form.capacity.data,
                                            languages=form.languages.data, skill_ids=form.skill_ids.data or [])
        except ValidationError as exc:
            db.session.rollback()
            _field_error(form, exc, "capacity")
        else:
            db.session.commit()
            flash(_("Profile of %(name)s saved.", name=user.name), "success")
            return redirect(url_for("service_admin.agents"))
    return render_template("service_admin/agent.html", form=form, user=user), (400 if form.errors else 200)


@bp.get("/triage")
def triage():
    days = request.args.get("days", type=int)
    days = days if days in REPORT_DAYS else None
    since = utcnow() - timedelta(days=days) if days else None
    report = triage_service.accuracy_report(db.session, since=since)
    return render_template("service_admin/triage.html", report=report, days=days, choices=REPORT_DAYS)

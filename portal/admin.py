"""User administration for admins: list, create, change role, deactivate."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from kb import permissions
from kb.errors import ValidationError
from kb.users import Role, User, create_user, update_user
from portal.extensions import db
from portal.i18n import role_label
from portal.security import actor

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 25


def _role_choices():
    return [(r.value, role_label(r.value)) for r in Role]


class NewUserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(min=8, max=200)])
    role = SelectField(_l("Role"))


class EditUserForm(FlaskForm):
    role = SelectField(_l("Role"))
    active = BooleanField(_l("Active"))


@bp.before_request
def only_admins():
    if not permissions.can_manage_users(actor()):
        abort(404 if actor() is None else 403)


@bp.get("/users")
def users():
    page = max(request.args.get("page", 1, type=int), 1)
    q = (request.args.get("q") or "").strip()[:100]
    stmt = select(User).order_by(User.name)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(func.lower(User.name).like(like) | User.email.like(like))
    pagination = db.paginate(stmt, page=page, per_page=PER_PAGE, error_out=False)
    return render_template("admin/users.html", pagination=pagination, q=q, roles=dict(_role_choices()))


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    form = NewUserForm()
    form.role.choices = _role_choices()
    if form.validate_on_submit():
        try:
            user = create_user(db.session, actor(), email=form.email.data, name=form.name.data,
                               password=form.password.data, role=form.role.data)
        except ValidationError as exc:
            db.session.rollback()
            getattr(form, exc.field or "email").errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form), (400 if form.errors else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = EditUserForm(obj=None if request.method == "POST" else user)
    form.role.choices = _role_choices()
    if request.method == "GET":
        form.active.data = user.active
    if form.validate_on_submit():
        try:
            update_user(db.session, actor(), user, role=form.role.data, active=form.active.data)
        except ValidationError as exc:
            db.session.rollback()
            form.role.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_edit.html", form=form, user=user), (400 if form.errors else 200)


from portal.jobs.views import bp as _jobs_bp  # noqa: E402  (/admin/jobs: the dead letters, under the admin check)

bp.register_blueprint(_jobs_bp)

"""/admin/chat: the messaging platforms allowed to post to the chat webhook (admins only).

A secret is shown on the response page once, when it is created or rotated, and never
put in a flash message (the session cookie is signed, not encrypted)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from kb import chat, permissions
from kb.errors import ValidationError
from portal.extensions import db
from portal.security import actor

bp = Blueprint("chat_admin", __name__, url_prefix="/admin/chat")


class IntegrationForm(FlaskForm):
    slug = StringField(_l("Slug"), validators=[DataRequired(), Length(max=40)],
                       description=_l("Part of the webhook address: lowercase letters, digits and dashes."))
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=chat.NAME_MAX)],
                       description=_l("E.g. the platform and workspace: “Teams – IT support”."))


class ActionForm(FlaskForm):
    """No fields: only the CSRF token."""


@bp.before_request
@login_required
def only_admins():
    if not permissions.can_manage_integrations(actor()):
        abort(403)


def _page(form: IntegrationForm, shown=None, secret: str | None = None, status: int = 200):
    return render_template("api/chat_admin.html", integrations=chat.list_integrations(db.session, actor()),
                           form=form, shown=shown, secret=secret), status


def _check_csrf() -> None:
    if not ActionForm().validate_on_submit():
        abort(400, _("Your form expired or was sent from another site. Reload the page and try again."))


@bp.get("")
def index():
    return _page(IntegrationForm())


@bp.post("")
def create():
    form = IntegrationForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        row, secret = chat.create_integration(db.session, actor(), slug=form.slug.data, name=form.name.data)
    except ValidationError as e:
        db.session.rollback()
        target = form._fields.get(e.field or "", form.slug)
        target.errors = [*target.errors, str(e)]
        return _page(form, status=400)
    db.session.commit()
    return _page(IntegrationForm(formdata=None), shown=row, secret=secret)


@bp.post("/<int:integration_id>/rotate")
def rotate(integration_id: int):
    _check_csrf()
    row, secret = chat.rotate_secret(db.session, actor(), integration_id)
    db.session.commit()
    return _page(IntegrationForm(formdata=None), shown=row, secret=secret)


@bp.post("/<int:integration_id>/active")
def set_active(integration_id: int):
    _check_csrf()
    active = request.form.get("active") == "1"
    row = chat.set_active(db.session, actor(), integration_id, active)
    db.session.commit()
    flash(_("“%(name)s” is active again.", name=row.name) if active else
          _("“%(name)s” is deactivated: its deliveries are refused.", name=row.name), "success")
    return redirect(url_for("chat_admin.index"))

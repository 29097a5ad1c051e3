"""/account/tokens: a person's API tokens. A new token is shown on the response page
itself, once, and never put in the session or a flash message (the session cookie is
signed, not encrypted)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from kb import api_tokens, permissions
from kb.errors import ValidationError
from portal.extensions import db
from portal.security import actor

bp = Blueprint("api_tokens", __name__, url_prefix="/account/tokens")


class NewTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=api_tokens.NAME_MAX)],
                       description=_l("What uses it, e.g. “monitoring” or “my laptop script”."))


class RevokeForm(FlaskForm):
    """No fields: only the CSRF token."""


def _page(form: NewTokenForm, created=None, plaintext: str | None = None, status: int = 200):
    return render_template("api/tokens.html", tokens=api_tokens.list_tokens(db.session, actor()), form=form,
                           created=created, plaintext=plaintext), status


@bp.before_request
@login_required
def require_account():
    if not permissions.can_use_api_tokens(actor()):
        abort(403)


@bp.get("")
def index():
    return _page(NewTokenForm())


@bp.post("")
def create():
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        token, plaintext = api_tokens.create_token(db.session, actor(), form.name.data)
    except ValidationError as e:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(e)]
        return _page(form, status=400)
    db.session.commit()
    return _page(NewTokenForm(formdata=None), created=token, plaintext=plaintext)


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int):
    if not RevokeForm().validate_on_submit():
        abort(400, _("Your form expired or was sent from another site. Reload the page and try again."))
    token = api_tokens.revoke_token(db.session, actor(), token_id)  # someone else's: 404
    db.session.commit()
    flash(_("Token “%(name)s” was revoked; programs using it can no longer call the API.", name=token.name),
          "success")
    return redirect(url_for("api_tokens.index"))

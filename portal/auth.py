"""Log in, log out, and choose the interface language."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from kb.users import authenticate, set_locale
from portal.extensions import db, limiter
from portal.i18n import LANGUAGES
from portal.security import actor

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me logged in"))


def safe_next(target: str | None) -> str:
    """Only same-site relative paths, so ?next= cannot send people elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("intake.get_help")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is None:
            db.session.rollback()
            flash(_("The email or password is not right."), "error")
            return render_template("auth/login.html", form=form), 401
        intake_tokens = session.get("intake_tokens")  # this browser's help sessions survive the login
        session.clear()  # a fresh session on login: no fixation
        if intake_tokens:
            session["intake_tokens"] = intake_tokens
        login_user(user, remember=form.remember.data)
        db.session.commit()
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("intake.get_help"))


@bp.post("/language/<code>")
def language(code: str):
    if code not in LANGUAGES:
        return redirect(safe_next(request.form.get("next")))
    session["lang"] = code
    user = actor()
    if user is not None:
        set_locale(db.session, user, code)
        db.session.commit()
    return redirect(safe_next(request.form.get("next")))

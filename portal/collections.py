"""Collections (learning paths): curators build, publish, assign and follow them; learners
see "My learning", open the steps and mark them done; anyone who may read one can print it.

Views are thin: parse the request, call one kb service (kb.collections, kb.learning),
commit once, render. Every POST carries the CSRF token (Flask-WTF protects the app).
"""
from __future__ import annotations

import logging
from datetime import datetime, time, timezone

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from kb import collections as col
from kb import learning, markdown, permissions
from kb.errors import NotFound, ValidationError
from kb.teams import Team
from kb.users import Role, User, get_user_by_email
from portal.extensions import db
from portal.i18n import current_lang, role_label
from portal.search_ext import engine
from portal.security import actor
from search import IndexMismatchError

log = logging.getLogger(__name__)
bp = Blueprint("collections", __name__)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CollectionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=col.TITLE_MAX)])
    intro = TextAreaField(_l("Introduction"), validators=[Optional(), Length(max=col.INTRO_MAX)],
                          description=_l("Markdown. What the learner will be able to do afterwards."))
    audience_roles = MultiCheckboxField(_l("For these roles"))
    audience_team_id = SelectField(_l("Or for this team"), validators=[Optional()])

    def set_choices(self, teams: list[Team]) -> "CollectionForm":
        self.audience_roles.choices = [SelectChoice(r.value, role_label(r.value)) for r in Role]
        self.audience_team_id.choices = [SelectChoice("", _("(no team)"))] + [
            SelectChoice(str(t.id), t.label(current_lang())) for t in teams]
        return self


class AssignForm(FlaskForm):
    email = StringField(_l("A person (email)"), validators=[Optional(), Length(max=254)])
    team_id = SelectField(_l("Or a whole team"), validators=[Optional()])
    due = DateField(_l("Due date"), validators=[Optional()],
                    description=_l("Optional. Due at the end of that day (UTC)."))


def _teams() -> list[Team]:
    return list(db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name)))


@bp.app_context_processor
def inject_learning():
    """A callable, so the query runs only where the navigation bar asks for it."""
    def has() -> bool:
        try:
            return learning.has_learning(db.session, actor())
        except SQLAlchemyError:  # decoration on an error page: never a second error
            log.warning("learning assignments unavailable", exc_info=True)
            return False
    return {"has_learning": has}


def _curator() -> None:
    permissions.require(permissions.can_curate_collections(actor()),
                        _("Only trainers, team leads and admins curate collections."))


def _collection(collection_id: int, curator: bool = False):
    c = col.get_collection(db.session, actor(), collection_id)
    if curator:
        _curator()
    return c


def _failed(exc: Exception, collection_id: int, endpoint: str = "collections.edit"):
    db.session.rollback()
    flash(str(exc), "error")
    return redirect(url_for(endpoint, collection_id=collection_id), 303)


def _form_values(form: CollectionForm) -> dict:
    return {"title": form.title.data, "intro": form.intro.data or "", "audience_roles": form.audience_roles.data,
            "audience_team_id": form.audience_team_id.data or None}


# ---------------------------------------------------------------- curators
@bp.route("/collections/", methods=["GET", "POST"])
@login_required
def index():
    if not permissions.can_curate_collections(actor()):
        return redirect(url_for("collections.my_learning"))
    form = CollectionForm().set_choices(_teams())
    if form.validate_on_submit():
        try:
            c = col.create_collection(db.session, actor(), **_form_values(form))
        except ValidationError as exc:
            db.session.rollback()
            form.title.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Collection created. Add sections and articles, then publish it."), "success")
            return redirect(url_for("collections.edit", collection_id=c.id))
    status = 400 if form.errors or any(f.errors for f in form) else 200
    return render_template("collections/index.html", collections=col.list_collections(db.session, actor()),
                           form=form), status


def _suggestions(c, q: str | None):
    """Search is a help here: an index being rebuilt must not break the page."""
    try:
        return col.suggest_articles(db.session, actor(), engine(), c, q or None, limit=8)
    except IndexMismatchError:
        log.warning("collection suggestions unavailable: the search index needs a rebuild")
        return []


@bp.route("/collections/<int:collection_id>/edit", methods=["GET", "POST"])
@login_required
def edit(collection_id: int):
    c = _collection(collection_id, curator=True)
    form = CollectionForm().set_choices(_teams())
    if request.method == "GET":
        form.process(data={"title": c.title, "intro": c.intro, "audience_roles": col.parse_roles(c.audience_roles),
                           "audience_team_id": str(c.audience_team_id or "")})
    elif form.validate_on_submit():
        try:
            col.update_collection(db.session, actor(), c, **_form_values(form))
        except ValidationError as exc:
            db.session.rollback()
            (form.audience_roles if exc.field and "audience" in exc.field else form.title).errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("collections.edit", collection_id=c.id))
    q = (request.args.get("q") or "").strip()
    status = 400 if any(f.errors for f in form) else 200
    return render_template("collections/edit.html", collection=c, form=form, q=q,
                           outline=col.outline(db.session, actor(), c),
                           results=_suggestions(c, q) if q else [], suggestions=_suggestions(c, None)), status


@bp.post("/collections/<int:collection_id>/status")
@login_required
def status(collection_id: int):
    c = _collection(collection_id, curator=True)
    try:
        col.set_collection_status(db.session, actor(), c, request.form.get("status", ""))
    except ValidationError as exc:
        return _failed(exc, c.id)
    db.session.commit()
    flash(_("Published.") if c.status == "published" else _("Moved back to draft."), "success")
    return redirect(url_for("collections.edit", collection_id=c.id), 303)


@bp.post("/collections/<int:collection_id>/sections", defaults={"section_id": None})
@bp.post("/collections/<int:collection_id>/sections/<int:section_id>")
@login_required
def section(collection_id: int, section_id: int | None):
    c = _collection(collection_id, curator=True)
    action, form = request.form.get("action", "save"), request.form
    try:
        if section_id is None:
            col.add_section(db.session, actor(), c, form.get("title"), form.get("intro", ""))
        else:
            s = col.get_section(db.session, actor(), c, section_id)
            if action in ("up", "down"):
                col.move_section(db.session, actor(), s, -1 if action == "up" else 1)
            elif action == "remove":
                col.remove_section(db.session, actor(), s)
            else:
                col.update_section(db.session, actor(), s, form.get("title"), form.get("intro", ""))
    except ValidationError as exc:
        return _failed(exc, c.id)
    db.session.commit()
    return redirect(url_for("collections.edit", collection_id=c.id, _anchor="sections"), 303)


@bp.post("/collections/<int:collection_id>/items", defaults={"item_id": None})
@bp.post("/collections/<int:collection_id>/items/<int:item_id>")
@login_required
def item(collection_id: int, item_id: int | None):
    c = _collection(collection_id, curator=True)
    action, form = request.form.get("action", "save"), request.form
    try:
        if item_id is None:
            s = col.get_section(db.session, actor(), c, form.get("section_id", type=int))
            col.add_item(db.session, actor(), s, form.get("article_id", type=int), form.get("note", ""))
        else:
            it = col.get_item(db.session, actor(), c, item_id)
            if action in ("up", "down"):
                col.move_item(db.session, actor(), it, -1 if action == "up" else 1)
            elif action == "remove":
                col.remove_item(db.session, actor(), it)
            else:
                col.update_item(db.session, actor(), it, form.get("note", ""))
    except (ValidationError, NotFound) as exc:
        return _failed(exc, c.id)
    db.session.commit()
    if item_id is None:
        flash(_("Article added."), "success")
    return redirect(url_for("collections.edit", collection_id=c.id, _anchor="sections"), 303)


def _due(value) -> datetime | None:
    return datetime.combine(value, time(23, 59, 59), tzinfo=timezone.utc) if value else None


@bp.route("/collections/<int:collection_id>/assign", methods=["GET", "POST"])
@login_required
def assign(collection_id: int):
    c = _collection(collection_id, curator=True)
    form = AssignForm()
    form.team_id.choices = [SelectChoice("", _("(choose a team)"))] + [
        SelectChoice(str(t.id), t.label(current_lang())) for t in _teams()]
    if form.validate_on_submit():
        email, team_id = (form.email.data or "").strip(), form.team_id.data
        user = get_user_by_email(db.session, email) if email else None
        team = db.session.get(Team, int(team_id)) if team_id and team_id.isdigit() else None
        if email and user is None:
            form.email.errors.append(_("Nobody has the email %(email)s.", email=email))
        elif bool(user) == bool(team):
            form.email.errors.append(_("Choose either a person or a team."))
        else:
            try:
                learning.assign_collection(db.session, actor(), c, user=user, team=team, due_at=_due(form.due.data))
            except ValidationError as exc:
                db.session.rollback()
                (form.due if exc.field == "due_at" else form.email).errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Assigned; they were notified."), "success")
                return redirect(url_for("collections.assign", collection_id=c.id), 303)
    rows = learning.list_assignments(db.session, actor(), c)
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([a.user_id for a in rows])))}
    teams = {t.id: t for t in db.session.scalars(select(Team).where(Team.id.in_([a.team_id for a in rows])))}
    status = 400 if any(f.errors for f in form) else 200
    return render_template("collections/assign.html", collection=c, form=form, assignments=rows, users=users,
                           teams=teams, locale=current_lang()), status


@bp.post("/collections/<int:collection_id>/assign/<int:assignment_id>/remove")
@login_required
def unassign(collection_id: int, assignment_id: int):
    c = _collection(collection_id, curator=True)
    learning.remove_assignment(db.session, actor(), c, assignment_id)
    db.session.commit()
    flash(_("Assignment removed."), "success")
    return redirect(url_for("collections.assign", collection_id=c.id), 303)


@bp.get("/collections/<int:collection_id>/progress")
@login_required
def progress(collection_id: int):
    c = _collection(collection_id, curator=True)
    return render_template("collections/progress.html", collection=c,
                           rows=learning.collection_progress(db.session, actor(), c))


# ---------------------------------------------------------------- learners
@bp.get("/collections/<int:collection_id>")
@login_required
def view(collection_id: int):
    c = _collection(collection_id)
    return render_template("collections/view.html", collection=c, outline=col.outline(db.session, actor(), c),
                           marks=learning.progress_of(db.session, actor(), c),
                           intro_html=Markup(markdown.render(c.intro)),  # sanitised by kb.markdown
                           diff_path=learning.diff_path)


@bp.get("/collections/<int:collection_id>/print")
@login_required
def print_view(collection_id: int):
    """One document with every readable article in full, for printing or saving as PDF."""
    c = _collection(collection_id)
    outline = col.outline(db.session, actor(), c)
    bodies = {st.article.id: Markup(markdown.render(st.article.body))  # sanitised by kb.markdown
              for sec in outline for st in sec.steps if st.available}
    return render_template("collections/print.html", collection=c, outline=outline, bodies=bodies,
                           intro_html=Markup(markdown.render(c.intro)))


@bp.post("/collections/<int:collection_id>/steps/<int:article_id>/<any(open, done, undo):what>")
@login_required
def mark(collection_id: int, article_id: int, what: str):
    c = _collection(collection_id)
    if what == "open":
        learning.mark_opened(db.session, actor(), c, article_id)
    else:
        learning.mark_done(db.session, actor(), c, article_id, done=what == "done")
    db.session.commit()
    if what == "open":
        return redirect(url_for("articles.article", article_id=article_id), 303)
    return redirect(url_for("collections.view", collection_id=c.id, _anchor=f"step-{article_id}"), 303)


@bp.get("/learning/")
@login_required
def my_learning():
    who = actor()
    return render_template("collections/learning.html", entries=learning.my_learning(db.session, who),
                           available=learning.available_collections(db.session, who))

"""Writing and reviewing: new/edit forms, lifecycle buttons, the review queue, history and diffs."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kb import articles, drafting, permissions
from kb.errors import InvalidTransition, NotFound, ValidationError
from kb.taxonomy import top_categories
from portal.articles import bp
from portal.articles.forms import ArticleForm, TransitionForm
from portal.extensions import db, login_manager
from portal.i18n import current_lang
from portal.security import actor

FLASH_AFTER = {
    "in_review": lambda: _("Submitted for review."),
    "published": lambda: _("Published."),
    "draft": lambda: _("Moved back to draft."),
    "archived": lambda: _("Archived."),
}


def _need_login():
    """Anonymous visitors are sent to log in; logged-in people without the right get 403."""
    if actor() is None:
        abort(login_manager.unauthorized())


def _form_values(form: ArticleForm) -> dict:
    return {"title": form.title.data, "body": form.body.data, "category": form.category.data,
            "subcategory": form.subcategory.data or None, "tags": form.tags.data or "",
            "audience": form.audience.data, "lang": form.lang.data, "note": form.note.data or ""}


def _show_error(form: ArticleForm, exc: Exception) -> None:
    target = getattr(form, getattr(exc, "field", None) or "", None)
    (target.errors if target is not None and isinstance(target.errors, list) else form.form_errors).append(str(exc))


def _render_form(form: ArticleForm, item=None, status: int | None = None):
    status = status or (400 if (form.errors or form.form_errors) else 200)
    findings = drafting.personal_data_in(db.session, item) if item is not None else []  # blocks publishing
    return render_template("articles/form.html", form=form, article=item, findings=findings), status


@bp.route("/new", methods=["GET", "POST"])
def new():
    _need_login()
    permissions.require(permissions.can_create_article(actor()), _("You may not write articles."))
    form = ArticleForm()
    form.set_choices(top_categories(db.session), current_lang())
    if request.method == "GET":
        form.lang.data = current_lang()
        form.title.data = (request.args.get("title") or "")[:200]  # e.g. a content gap from Insights
    if form.validate_on_submit():
        try:
            item = articles.create_article(db.session, actor(), **_form_values(form))
        except ValidationError as exc:
            db.session.rollback()
            _show_error(form, exc)
        else:
            db.session.commit()
            flash(_("Draft saved. Submit it for review when it is ready."), "success")
            return redirect(url_for("articles.article", article_id=item.id))
    return _render_form(form)


@bp.route("/<int:article_id>/edit", methods=["GET", "POST"])
def edit(article_id: int):
    _need_login()
    item = articles.get_article(db.session, actor(), article_id)
    permissions.require(permissions.can_edit_article(actor(), item), _("You may not edit this article."))
    form = ArticleForm()
    form.set_choices(top_categories(db.session), current_lang())
    if request.method == "GET":
        form.process(data={"title": item.title, "body": item.body, "category": item.category.slug,
                           "subcategory": item.subcategory.slug if item.subcategory else "",
                           "tags": ", ".join(item.tag_names), "audience": item.audience, "lang": item.lang,
                           "base_revision": articles.current_revision_number(item)})
    if form.validate_on_submit():
        base = form.base_revision.data
        try:
            articles.update_article(db.session, actor(), item, **_form_values(form),
                                    base_revision=int(base) if base and base.isdigit() else None)
        except (ValidationError, InvalidTransition) as exc:
            db.session.rollback()
            _show_error(form, exc)
            return _render_form(form, item, 409 if isinstance(exc, InvalidTransition) else 400)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("articles.article", article_id=item.id))
    return _render_form(form, item)


@bp.post("/<int:article_id>/status")
def transition(article_id: int):
    _need_login()
    item = articles.get_article(db.session, actor(), article_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        articles.transition_article(db.session, actor(), item, form.to_status.data, form.note.data or "")
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("articles.article", article_id=item.id), 303)
    db.session.commit()
    flash(FLASH_AFTER[item.status](), "success")
    return redirect(url_for("articles.article", article_id=item.id), 303)


@bp.get("/review")
def review_queue():
    _need_login()
    return render_template("articles/review.html", queue=articles.review_queue(db.session, actor()),
                           transition_form=TransitionForm(), locale=current_lang())


@bp.get("/<int:article_id>/history")
def history(article_id: int):
    _need_login()
    item = articles.get_article(db.session, actor(), article_id)
    return render_template("articles/history.html", article=item,
                           revisions=articles.history(db.session, actor(), item))


@bp.get("/<int:article_id>/diff")
def diff(article_id: int):
    _need_login()
    item = articles.get_article(db.session, actor(), article_id)
    revisions = articles.history(db.session, actor(), item)
    latest = revisions[-1].number if revisions else 0
    to_no = request.args.get("to", latest, type=int)
    from_no = request.args.get("from", max(to_no - 1, 1), type=int)
    try:
        old = articles.get_revision(db.session, actor(), item, from_no)
        new = articles.get_revision(db.session, actor(), item, to_no)
    except NotFound:
        abort(404)
    return render_template("articles/diff.html", article=item, revisions=revisions, old=old, new=new,
                           diff=articles.revision_diff(old, new))

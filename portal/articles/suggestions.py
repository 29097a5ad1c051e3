"""Closing the loop on existing articles: "update article X" suggestions (kb.draft_dedup) and the
leads' page of recurring problems in recent ticket history (kb.draft_batch).

Every view: parse, one kb service, one commit, render. Forms are CSRF-protected."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField, TextAreaField

from kb import articles, draft_batch, draft_dedup, drafting, markdown, permissions
from kb.errors import InvalidTransition, KBError, ValidationError
from kb.tickets import get_ticket
from portal.articles import bp
from portal.articles.editing import _need_login
from portal.extensions import db
from portal.search_ext import engine, holder
from portal.security import actor


class ApplyForm(FlaskForm):
    body = TextAreaField()
    base_revision = HiddenField()


class ProposeForm(FlaskForm):
    ticket_ids = HiddenField()  # comma-separated; every id is checked again by the service
    new_article = HiddenField()


def _csrf_or_400(form: FlaskForm) -> None:
    if not form.validate_on_submit():
        abort(400, _("Your form expired or was sent from another site. Reload the page and try again."))


@bp.get("/suggestions")
def suggestions():
    _need_login()
    permissions.require(permissions.is_staff(actor()), _("Only support staff see suggested updates."))
    items = draft_dedup.open_suggestions(db.session, actor())
    return render_template("articles/suggestions.html", items=items)


def _render_suggestion(suggestion, form: ApplyForm, status: int = 200):
    who = actor()
    item = articles.get_article(db.session, who, suggestion.article_id)
    return render_template(
        "articles/suggestion.html", suggestion=suggestion, article=item, form=form,
        tickets=[t for t in draft_dedup.suggestion_tickets(db.session, suggestion)
                 if permissions.can_view_ticket(who, t)],
        addition_html=Markup(markdown.render(suggestion.addition)),  # sanitised by kb.markdown
        diff=draft_dedup.diff_of(db.session, suggestion, form.body.data),
        can_edit=permissions.can_edit_article(who, item)), status


@bp.get("/suggestions/<int:suggestion_id>")
def suggestion(suggestion_id: int):
    _need_login()
    item = draft_dedup.get_suggestion(db.session, actor(), suggestion_id)
    article = articles.get_article(db.session, actor(), item.article_id)
    form = ApplyForm(formdata=None, body=draft_dedup.proposed_body(article.body, item.addition),
                     base_revision=articles.current_revision_number(article))
    return _render_suggestion(item, form)


@bp.post("/suggestions/<int:suggestion_id>/apply")
def apply_suggestion(suggestion_id: int):
    _need_login()
    item = draft_dedup.get_suggestion(db.session, actor(), suggestion_id)
    form = ApplyForm()
    _csrf_or_400(form)
    base = form.base_revision.data
    try:
        article = draft_dedup.apply_suggestion(db.session, actor(), item, body=form.body.data,
                                               base_revision=int(base) if base and base.isdigit() else None)
    except (ValidationError, InvalidTransition) as exc:
        db.session.rollback()
        form.body.errors = [str(exc)]
        return _render_suggestion(item, form, 409 if isinstance(exc, InvalidTransition) else 400)
    db.session.commit()
    flash(_("The article was updated (revision %(n)s).", n=item.revision_number), "success")
    return redirect(url_for("articles.article", article_id=article.id), 303)


@bp.post("/suggestions/<int:suggestion_id>/dismiss")
def dismiss_suggestion(suggestion_id: int):
    _need_login()
    item = draft_dedup.get_suggestion(db.session, actor(), suggestion_id)
    _csrf_or_400(ProposeForm())
    try:
        draft_dedup.dismiss_suggestion(db.session, actor(), item)
    except InvalidTransition as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("articles.suggestion", suggestion_id=item.id), 303)
    db.session.commit()
    flash(_("Suggestion dismissed."), "success")
    return redirect(url_for("articles.suggestions"), 303)


@bp.post("/suggestions/<int:suggestion_id>/new-article")
def suggestion_new_article(suggestion_id: int):
    """Not the same problem after all: dismiss and draft a new article from the same tickets."""
    _need_login()
    item = draft_dedup.get_suggestion(db.session, actor(), suggestion_id)
    _csrf_or_400(ProposeForm())
    tickets = draft_dedup.suggestion_tickets(db.session, item)
    try:
        draft_dedup.dismiss_suggestion(db.session, actor(), item)
        article = drafting.draft_from_tickets(db.session, actor(), tickets, embedder=holder().embedder())
    except KBError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("articles.suggestion", suggestion_id=item.id), 303)
    db.session.commit()
    flash(_("Draft article created. Personal data was replaced with placeholders: read it through, then submit "
            "it for review."), "success")
    return redirect(url_for("articles.edit", article_id=article.id), 303)


# ----------------------------------------------------------------- recurring problems
@bp.get("/from-history")
def from_history():
    _need_login()
    who = actor()
    permissions.require(permissions.can_review_article(who), _("Only team leads and admins draft from history."))
    since = request.args.get("since") or "30d"
    try:
        result = draft_batch.recurring_problems(db.session, who, embedder=holder().embedder(),
                                                since=draft_batch.parse_since(since), engine=engine())
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("articles.from_history"), 303)  # the default window is always valid
    db.session.commit()  # the ticket vectors computed on the way are kept
    return render_template("articles/from_history.html", result=result, since=since)


@bp.post("/from-history/propose")
def propose_from_history():
    _need_login()
    who = actor()
    permissions.require(permissions.can_review_article(who), _("Only team leads and admins draft from history."))
    form = ProposeForm()
    _csrf_or_400(form)
    raw = [part.strip() for part in (form.ticket_ids.data or "").split(",") if part.strip()]
    if not raw or not all(part.isdigit() for part in raw):
        abort(400, _("Choose the tickets to draft from."))
    if len(raw) > drafting.MAX_TICKETS:
        abort(400, _("Draft from at most %(n)s tickets at once.", n=drafting.MAX_TICKETS))
    try:
        tickets = [get_ticket(db.session, who, int(part)) for part in raw]
        kind, made = draft_batch.propose(db.session, who, tickets, engine=engine(), embedder=holder().embedder(),
                                         new_article=form.new_article.data == "1")
    except (ValidationError, InvalidTransition) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("articles.from_history"), 303)
    db.session.commit()
    if kind == "update":
        flash(_("An article already covers this problem: review the suggested update."), "info")
        return redirect(url_for("articles.suggestion", suggestion_id=made.id), 303)
    flash(_("Draft article created from %(n)s tickets. Read it through, then submit it for review.",
            n=len(tickets)), "success")
    return redirect(url_for("articles.edit", article_id=made.id), 303)

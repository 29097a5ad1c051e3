""""Draft article" on a resolved or closed ticket: one POST (CSRF), one kb service, one commit,
then the editor, where the agent checks the de-personalised draft before review; or, when an
article already covers the problem, the "update article X" suggestion (kb.draft_dedup)."""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField

from kb import draft_dedup
from kb.errors import ValidationError
from kb.tickets import get_ticket
from portal.extensions import db
from portal.search_ext import engine, holder
from portal.security import actor
from portal.tickets import bp


class DraftArticleForm(FlaskForm):
    include_internal = BooleanField(_l("Include internal notes (internal article)"))
    new_article = HiddenField()  # "1": write a new article even if one covers the problem


@bp.post("/<int:ticket_id>/draft-article")
@login_required
def draft_article(ticket_id: int):
    ticket = get_ticket(db.session, actor(), ticket_id)
    form = DraftArticleForm(prefix="draft")
    if not form.validate_on_submit():
        abort(400, _("Your form expired or was sent from another site. Reload the page and try again."))
    internal = bool(form.include_internal.data)
    try:
        kind, made = draft_dedup.draft_or_update(db.session, actor(), [ticket], engine=engine(),
                                                 embedder=holder().embedder(), include_internal=internal,
                                                 new_article=form.new_article.data == "1")
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("tickets.view", ticket_id=ticket_id) + "#articles", 303)
    db.session.commit()
    if kind == "update":
        flash(_("An article already covers this problem: review the suggested update instead of writing a "
                "second article."), "info")
        return redirect(url_for("articles.suggestion", suggestion_id=made.id), 303)
    flash(_("Draft article created from %(ref)s. Personal data was replaced with placeholders: read it through, "
            "then submit it for review.", ref=ticket.reference) if not internal else
          _("Internal draft article created from %(ref)s, including internal notes: it can only be published "
            "for staff.", ref=ticket.reference), "success")
    return redirect(url_for("articles.edit", article_id=made.id), 303)

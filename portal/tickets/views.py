"""Filing a ticket, the requester's list, and the ticket page."""
from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from kb import intake
from kb.deflection import ProblemMatcher
from kb.search_service import search_articles
from kb.tickets import DESCRIPTION_MAX, TITLE_MAX, create_ticket, get_ticket, list_my_tickets
from portal.extensions import db
from portal.intake import browser
from portal.search_ext import engine, holder
from portal.security import actor
from portal.tickets import bp

log = logging.getLogger(__name__)
TITLE_FROM_TEXT = 80


class TicketForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=TITLE_MAX)],
                        description=_l("A short summary, e.g. “VPN will not connect from home”."))
    description = TextAreaField(_l("What happened?"), validators=[DataRequired(), Length(max=DESCRIPTION_MAX)],
                                description=_l("What you tried, error messages, since when, who is affected."))
    intake = HiddenField()


def _title_from(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= TITLE_FROM_TEXT else first[: TITLE_FROM_TEXT - 1].rstrip() + "…"


def _matcher() -> ProblemMatcher | None:
    """The "same problem" rule with this app's embedder and search. Filing a ticket never
    fails because search is unavailable: then earlier deflections are simply not checked."""
    user = actor()

    def suggest(text: str) -> list[int]:
        try:
            return [s.article.id for s in search_articles(db.session, user, engine(), text, limit=5)]
        except Exception:  # noqa: BLE001 - the index may need a rebuild; fall back to text similarity
            log.warning("deflection check: search unavailable", exc_info=True)
            return []

    try:
        return ProblemMatcher(holder().embedder(), suggest=suggest)
    except Exception:  # noqa: BLE001
        log.warning("deflection check: embedder unavailable", exc_info=True)
        return None


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = TicketForm()
    if request.method == "GET":
        text = (request.args.get("text") or "").strip()[:DESCRIPTION_MAX]
        form.description.data = text
        form.title.data = _title_from(text)
        token = request.args.get("intake")
        form.intake.data = token if browser.owns(token) else ""
    if form.validate_on_submit():
        token = form.intake.data
        row = intake.get_intake(db.session, token) if browser.owns(token) else None
        ticket = create_ticket(db.session, actor(), title=form.title.data, description=form.description.data,
                               intake=row, matcher=_matcher(),
                               window_days=current_app.config["DEFLECTION_WINDOW_DAYS"])
        db.session.commit()
        flash(_("Ticket %(ref)s filed. We will get back to you.", ref=ticket.reference), "success")
        return redirect(url_for("tickets.view", ticket_id=ticket.id))
    return render_template("tickets/new.html", form=form)


@bp.get("/")
@login_required
def mine():
    return render_template("tickets/list.html", tickets=list_my_tickets(db.session, actor()))


@bp.get("/<int:ticket_id>")
@login_required
def view(ticket_id: int):
    return render_template("tickets/view.html", ticket=get_ticket(db.session, actor(), ticket_id))

"""Filing a ticket, the requester's list, the ticket page and its export."""
from __future__ import annotations

import json
import logging

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from kb import intake
from kb.deflection import ProblemMatcher
from kb.errors import ValidationError
from kb.search_service import search_articles
from kb.taxonomy import Category, top_categories
from kb.ticket_similarity import MemoEmbedder
from kb.tickets import DESCRIPTION_MAX, TITLE_MAX, create_ticket, get_ticket, list_my_tickets
from portal.extensions import db
from portal.intake import browser
from portal.search_ext import engine, holder
from portal.security import actor
from portal.tickets import bp
from portal.tickets.labels import IMPACT_LABELS, URGENCY_LABELS, status_label

log = logging.getLogger(__name__)
TITLE_FROM_TEXT = 80


def category_choices(locale: str | None) -> list:
    """Each top category, then its subcategories as "Network connectivity / Wi-Fi"."""
    choices = [("", _("Not sure: let the service desk decide"))]
    for top in top_categories(db.session):
        name = top.label(locale)
        choices.append((top.slug, _("%(name)s (general)", name=name)))
        choices += [(c.slug, f"{name} / {c.label(locale)}") for c in top.children]
    return choices


class TicketForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=TITLE_MAX)],
                        description=_l("A short summary, e.g. “VPN will not connect from home”."))
    description = TextAreaField(_l("What happened?"), validators=[DataRequired(), Length(max=DESCRIPTION_MAX)],
                                description=_l("What you tried, error messages, since when, who is affected."))
    category = SelectField(_l("Category"), choices=[], validate_choice=False,
                           description=_l("We suggest one from your description; change it if it is wrong."))
    impact = SelectField(_l("Who is affected?"), choices=[], validate_choice=False)
    urgency = SelectField(_l("How urgent is it?"), choices=[], validate_choice=False)
    contact_phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=40)],
                                description=_l("If a call is the fastest way to reach you."))
    contact_email = StringField(_l("Email for updates"), validators=[Optional(), Length(max=254)])
    files = MultipleFileField(_l("Screenshots, logs or documents"))
    intake = HiddenField()

    def fill_choices(self, locale):
        self.category.choices = category_choices(locale)
        self.impact.choices = [("", _("Not sure"))] + [(k, str(v)) for k, v in IMPACT_LABELS.items()]
        self.urgency.choices = [("", _("Not sure"))] + [(k, str(v)) for k, v in URGENCY_LABELS.items()]


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


def _embedder():
    try:
        return holder().embedder()
    except Exception:  # noqa: BLE001 - a ticket is never refused because the model is unavailable
        log.warning("ticket triage: embedder unavailable", exc_info=True)
        return None


def _split_category(slug: str | None) -> tuple[int | None, int | None]:
    """A chosen slug -> (category id, subcategory id); unknown slugs count as "not sure"."""
    cat = db.session.query(Category).filter_by(slug=slug).one_or_none() if slug else None
    if cat is None:
        return None, None
    return (cat.parent_id, cat.id) if cat.parent_id else (cat.id, None)


def _prefill_triage(form: TicketForm, text: str) -> None:
    """Pre-select what triage suggests for the text the requester already typed."""
    from kb import triage_service
    if not text:
        return
    suggestion = triage_service.suggest(db.session, text, _embedder())
    if suggestion.subcategory is not None or suggestion.category is not None:
        form.category.data = (suggestion.subcategory or suggestion.category).slug
    if any(s.impact for s in suggestion.signals if not s.negated):
        form.impact.data = suggestion.impact
    if any(s.urgency for s in suggestion.signals if not s.negated):
        form.urgency.data = suggestion.urgency


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = TicketForm()
    form.fill_choices(str(get_locale()))
    reports, text = [], ""
    if request.method == "GET":
        text = (request.args.get("text") or "").strip()[:DESCRIPTION_MAX]
        reports = _colleague_reports(text)
        form.description.data = text
        form.title.data = _title_from(text)
        form.contact_email.data = actor().email
        token = request.args.get("intake")
        form.intake.data = token if browser.owns(token) else ""
        _prefill_triage(form, text)
    if form.validate_on_submit():
        token = form.intake.data
        row = intake.get_intake(db.session, token) if browser.owns(token) else None
        category_id, subcategory_id = _split_category(form.category.data)
        db.session.commit()  # end the read transaction (and its SQLite write lock) before encoding
        warmed = MemoEmbedder.warmed(_embedder(), form.title.data, form.description.data)
        try:
            ticket = create_ticket(db.session, actor(), title=form.title.data, description=form.description.data,
                                   intake=row, matcher=_matcher(),
                                   window_days=current_app.config["DEFLECTION_WINDOW_DAYS"],
                                   contact_email=form.contact_email.data, contact_phone=form.contact_phone.data,
                                   category_id=category_id, subcategory_id=subcategory_id,
                                   impact=form.impact.data or None, urgency=form.urgency.data or None,
                                   embedder=warmed)
        except ValidationError as e:
            show_error(form, e)
            return render_template("tickets/new.html", form=form), 400
        return filed(ticket, form, _("Ticket %(ref)s filed. We will get back to you.", ref=ticket.reference))
    return render_template("tickets/new.html", form=form, reports=reports, q=text)


def show_error(form, exc: ValidationError) -> None:
    """Roll back and show the error next to its field; everything typed stays in the form."""
    db.session.rollback()
    field = form._fields.get(exc.field or "")
    (field.errors.append if field is not None else form.form_errors.append)(str(exc))


def filed(ticket, form, message: str):
    """Commit the ticket before any file is looked at, then store the files (a refused one
    is a message, never a lost ticket) and show the ticket."""
    from portal.tickets.attachments import upload_files

    db.session.commit()
    errors = upload_files(ticket, request.files.getlist(form.files.name))
    db.session.commit()
    flash(message, "success")
    for error in errors:
        flash(error, "error")
    return redirect(url_for("tickets.view", ticket_id=ticket.id))


def _colleague_reports(text: str) -> list[dict]:
    """"N colleagues reported ...", the same notice as on the Get-help page (portal.intake.reports)."""
    from portal.intake.reports import for_text
    return for_text(text)


@bp.get("/")
@login_required
def mine():
    from kb.duplicates import followed_tickets
    return render_template("tickets/list.html", tickets=list_my_tickets(db.session, actor()),
                           following=followed_tickets(db.session, actor()), status_label=status_label)


@bp.get("/<int:ticket_id>")
@login_required
def view(ticket_id: int):
    from portal.tickets.page import ticket_page_context

    ticket = get_ticket(db.session, actor(), ticket_id)
    context = ticket_page_context(ticket)
    db.session.commit()  # the audit event of viewing a restricted ticket
    return render_template("tickets/view.html", **context)


@bp.get("/<int:ticket_id>/export.json")
@login_required
def export(ticket_id: int):
    """The ticket as its viewer may see it (a requester's export has no internal notes)."""
    from kb.ticket_export import export_ticket

    ticket = get_ticket(db.session, actor(), ticket_id)
    data = export_ticket(db.session, actor(), ticket)
    db.session.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{ticket.reference}.json"'})

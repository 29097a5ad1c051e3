"""The Get-help page (works without JavaScript), the intake actions, and the deflection report."""
from __future__ import annotations


from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from kb import deflection, intake, permissions
from kb.errors import NotFound, ValidationError
from kb.intake_models import DEFLECTED, TICKET
from portal.extensions import db
from portal.intake import api, bp, browser, reports
from portal.period import period_from_args
from portal.security import actor
from search import IndexMismatchError


@bp.get("/")
def get_help():
    """A bare view only gives the page a token; the session row appears with the first query."""
    token = request.args.get("intake")
    if not browser.owns(token):
        token = browser.issue()
    text = api.clean(request.args.get("q"))
    suggestions, problem, status = [], None, 200
    if text:
        try:
            suggestions = api.find(text, current_app.config["SUGGEST_LIMIT"])
        except IndexMismatchError as exc:
            problem, status = str(exc), 503
        api.record(token, text, suggestions)
    return render_template("intake/get_help.html", q=text, token=token, suggestions=suggestions,
                           problem=problem, open_url=api.open_url, reports=reports.for_text(text),
                           max_chars=current_app.config["MAX_QUERY_CHARS"]), status


def _owned_or_404(token: str) -> str:
    if not browser.owns(token):
        raise NotFound(_("We could not find that help session."))
    return token


@bp.get("/intake/<token>/open/<int:article_id>")
def open_article(token: str, article_id: int):
    """The suggestion links go through here so opens are recorded with or without JavaScript."""
    if browser.owns(token):
        try:
            intake.record_open(db.session, actor(), token, article_id)
            db.session.commit()
        except NotFound:
            db.session.rollback()
        return redirect(api.article_url(article_id, intake=token))
    return redirect(api.article_url(article_id))


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


@bp.post("/intake/<token>/solved")
def solved(token: str):
    """"This solved my problem": ends the session as deflected, credited to the article."""
    _owned_or_404(token)
    payload = request.get_json(silent=True) if request.is_json else request.form
    raw = str((payload or {}).get("article_id", ""))
    if not raw.isdigit():
        raise ValidationError(_("Choose the article that solved it."), "article_id")
    intake.mark_deflected(db.session, actor(), token, int(raw))
    db.session.commit()
    if _wants_json():
        return jsonify({"outcome": DEFLECTED, "article_id": int(raw)})
    return redirect(url_for("intake.thanks", intake=token))


@bp.get("/intake/thanks")
def thanks():
    token = request.args.get("intake")
    row = intake.get_intake(db.session, token) if browser.owns(token) else None
    if row is None or row.outcome != DEFLECTED:
        return redirect(url_for("intake.get_help"))
    return render_template("intake/thanks.html", intake=row,
                           window_days=current_app.config["DEFLECTION_WINDOW_DAYS"])


@bp.app_context_processor
def article_page_helpers():
    """For the article page: the "This solved my problem" form when it was reached from a
    suggestion in an open session of this browser (see templates/intake/_article_solved.html)."""

    def intake_solved(article):
        token = request.args.get("intake")
        if article is None or not browser.owns(token):
            return None
        row = intake.get_intake(db.session, token)
        if row is None or row.outcome in (DEFLECTED, TICKET):
            return None
        if intake.last_impression(db.session, row, article.id) is None:
            return None
        last = row.last_query
        return {"token": token, "article_id": article.id,
                "action": url_for("intake.solved", token=token),
                "ticket_url": url_for("tickets.new", intake=token, text=last.text if last else ""),
                "back_url": url_for("intake.get_help", intake=token, q=last.text if last else "")}

    return {"intake_solved": intake_solved}


@bp.get("/intake/stats")
@login_required
def stats():
    permissions.require(permissions.can_view_intake_stats(actor()))
    period = period_from_args(30)
    window = current_app.config["DEFLECTION_WINDOW_DAYS"]
    report = deflection.deflection_stats(db.session, period.since, period.until, window_days=window)
    return render_template("intake/stats.html", report=report, since=period.since_day, until=period.until_day)

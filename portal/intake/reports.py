""""N colleagues reported this": recent similar open tickets while a requester describes a
problem (GET /api/reports, and on the server-rendered pages), and "Add me to this issue".

Only for logged-in people (anonymous visitors see articles only). The sentence is built
here, once, for the JSON and the pages alike; it never carries a requester's own title
(kb.duplicates decides what is safe to show).
"""
from __future__ import annotations

import logging
import math

from flask import current_app, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required

from kb import duplicates
from kb.db import utcnow
from kb.errors import NotFound
from portal.errors import error_response
from portal.extensions import db, limiter
from portal.i18n import current_lang
from portal.intake import api, bp
from portal.search_ext import holder
from portal.security import actor

log = logging.getLogger(__name__)


def _hours() -> int:
    return current_app.config["DUPLICATE_WINDOW_HOURS"]


def _embedder():
    try:
        return holder().embedder()
    except Exception:  # noqa: BLE001 - the notice is a help, never a reason for an error page
        log.warning("colleagues reported: embedder unavailable", exc_info=True)
        return None


def sentence(report, now=None) -> str:
    """"7 colleagues reported “VPN gateway outage” in the last 2 hours."."""
    now = now or utcnow()
    hours = min(max(1, math.ceil((now - report.first_at).total_seconds() / 3600)), _hours())
    who = ngettext("%(num)d colleague", "%(num)d colleagues", report.count)
    if report.title:
        what = _("“%(title)s”", title=report.title)
    elif report.category is not None:
        what = _("a similar problem (%(category)s)", category=report.category.label(current_lang()))
    else:
        what = _("a similar problem")
    when = ngettext("in the last hour", "in the last %(num)d hours", hours)
    return _("%(who)s reported %(what)s %(when)s.", who=who, what=what, when=when)


def for_text(text: str) -> list[dict]:
    """The notices for what the current user typed (empty for anonymous visitors or on errors)."""
    user = actor()
    if user is None or not text:
        return []
    try:
        found = duplicates.find_reports(db.session, user, text, _embedder(), hours=_hours())
    except Exception:  # noqa: BLE001
        log.warning("colleagues reported: lookup failed", exc_info=True)
        db.session.rollback()
        return []
    now = utcnow()
    return [{"root_id": r.root_id, "count": r.count, "following": r.following, "incident": r.is_incident,
             "sentence": sentence(r, now), "ticket_url": url_for("tickets.view", ticket_id=r.root_id)}
            for r in found]


@bp.get("/api/reports")
@limiter.limit(api._suggest_limit)
def reports_api():
    if actor() is None:
        return error_response(401)
    text = api.clean(request.args.get("q"))
    return jsonify({"query": text, "reports": for_text(text)})


@bp.post("/intake/join")
@login_required
def join():
    """"Add me to this issue" (the form carries the text, so the offer is checked again)."""
    text = api.clean(request.form.get("q"))
    raw = request.form.get("root_id", "")
    back = redirect(url_for("intake.get_help", q=text) if text else url_for("intake.get_help"))
    if not raw.isdigit():
        flash(_("Choose the issue to join."), "error")
        return back
    try:
        root, joined = duplicates.join_issue(db.session, actor(), int(raw), text, _embedder(), hours=_hours())
    except NotFound:
        db.session.rollback()
        flash(_("That issue is closed, or it does not match what you described. Please file a ticket."), "error")
        return back
    db.session.commit()
    flash(_("You were added to %(ref)s: you get its updates, no need to file a ticket.", ref=root.reference)
          if joined else _("You already follow %(ref)s.", ref=root.reference), "success")
    return redirect(url_for("tickets.view", ticket_id=root.id))

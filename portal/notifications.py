"""The notifications page (/notifications) and the unread count in the navigation bar."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy.exc import SQLAlchemyError

from kb import permissions
from kb.channel_models import NOTIFICATION_CHANNELS
from kb.notifications import ALL, KINDS, list_notifications, mark_read, opted_out, set_preferences, unread_count
from portal.extensions import db
from portal.security import actor

log = logging.getLogger(__name__)
bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PER_PAGE = 25

# What each kind means to the reader (kb.notifications.KINDS says who receives it).
KIND_TEXT = {
    "received": (_l("Request received"), _l("Your request's reference and articles that may already answer it.")),
    "acknowledged": (_l("Request accepted"),
                     _l("An agent accepted your request: the planned actions and when to expect them.")),
    "question": (_l("Question for you"), _l("An agent needs an answer from you; the ticket waits for it.")),
    "reply": (_l("New reply"), _l("A public reply on a ticket you filed, follow or work on.")),
    "resolved": (_l("Request resolved"), _l("The solution, with links to confirm it or reopen the ticket.")),
    "survey": (_l("Satisfaction survey"), _l("An invitation to rate our service once a ticket is closed.")),
    "update": (_l("Tickets you follow"), _l("A ticket you follow was replied to, merged or updated.")),
    "assigned": (_l("Assigned to you"), _l("A ticket was assigned to you.")),
    "reopened": (_l("Reopened"), _l("A requester reopened a ticket you worked on.")),
    "cancelled": (_l("Withdrawn"), _l("A requester withdrew a ticket assigned to you.")),
    "collaborator": (_l("Help asked"), _l("Someone asked you to help with a ticket.")),
    "sla_reminder": (_l("SLA reminder"), _l("A ticket of yours is close to its response or resolution deadline.")),
    "sla_escalation": (_l("SLA escalation"), _l("A ticket missed its deadline and was escalated to you.")),
    "auto_closed": (_l("Closed automatically"),
                    _l("A resolved ticket closed because nobody confirmed or reopened it.")),
    "learning": (_l("Learning paths"),
                 _l("A learning path was assigned to you, or an article you completed changed.")),
    "review": (_l("Service reviews"), _l("The weekly or monthly review of the service's numbers, for team leads.")),
}
CHANNEL_TEXT = {"in_app": _l("In the app"), "email": _l("By email")}


@bp.app_context_processor
def inject_unread():
    """A callable, so the count query runs only on pages that show the badge."""
    return {"unread_notifications": _unread}


def _unread() -> int:
    # The badge is decoration: an error page rendered after a failed transaction must
    # still render, so a database error here shows no count rather than a second error.
    try:
        return unread_count(db.session, actor())
    except SQLAlchemyError:
        log.warning("unread notification count unavailable", exc_info=True)
        return 0


@bp.get("/")
@login_required
def index():
    page = list_notifications(db.session, actor(), page=request.args.get("page", 1, type=int), per_page=PER_PAGE)
    return render_template("notifications.html", notifications=page)


@bp.post("/read")
@login_required
def read_all():
    n = mark_read(db.session, actor(), ALL)
    db.session.commit()
    flash(_("Marked %(n)s notifications as read.", n=n) if n else _("Nothing was unread."), "success")
    return redirect(url_for("notifications.index"))


@bp.post("/<int:notification_id>/read")
@login_required
def read_one(notification_id: int):
    mark_read(db.session, actor(), [notification_id])
    db.session.commit()
    return redirect(url_for("notifications.index", page=request.form.get("page", 1, type=int)))


def _shown_kinds(user) -> list[str]:
    """Requesters see the kinds they can receive; staff see them all."""
    staff = permissions.is_staff(user)
    return [k for k, who in KINDS.items() if staff or who != "staff"]


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    user = actor()
    shown = _shown_kinds(user)
    if request.method == "POST":
        # Kinds not on the page keep their current choice (set_preferences replaces all).
        unwanted = opted_out(db.session, user.id)
        wanted = {(k, c) for k in KINDS for c in NOTIFICATION_CHANNELS
                  if (k not in shown and (k, c) not in unwanted)
                  or (k in shown and request.form.get(f"{k}__{c}") == "on")}
        set_preferences(db.session, user, wanted)
        db.session.commit()
        flash(_("Your notification settings were saved."), "success")
        return redirect(url_for("notifications.settings"))
    unwanted = opted_out(db.session, user.id)
    rows = [(k, *KIND_TEXT.get(k, (k, "")), {c: (k, c) not in unwanted for c in NOTIFICATION_CHANNELS})
            for k in shown]
    return render_template("notification_settings.html", rows=rows, channels=NOTIFICATION_CHANNELS,
                           channel_text=CHANNEL_TEXT, email=user.email)

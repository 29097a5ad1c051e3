"""The notifications page (/notifications) and the unread count in the navigation bar."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy.exc import SQLAlchemyError

from kb.notifications import ALL, list_notifications, mark_read, unread_count
from portal.extensions import db
from portal.security import actor

log = logging.getLogger(__name__)
bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PER_PAGE = 25


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

"""Admin page for outgoing mail: the outbox, failed sends and retrying them; and
:func:`send_outbox`, the one call the background worker and ``flask mail send`` make.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kb import permissions
from kb.channel_models import OUTBOX_STATUSES
from kb.mail_out import list_outbox, outbox_counts, retry_failed
from kb.mail_send import MailSettings, SMTPTransport, send_due
from portal.extensions import db
from portal.security import actor

log = logging.getLogger(__name__)
bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")
PER_PAGE = 25


def send_outbox(app: Flask, *, limit: int = 50, now=None) -> dict:
    """Send the due mails over SMTP as configured in ``app.config``; returns
    ``{"sent", "failed", "retry"}``. Without ``SMTP_HOST`` it does nothing (mails wait).

    Commits after each claim and each result, so a crash mid-batch never resends a mail
    whose success was committed (see kb.mail_send). Safe to run from several processes."""
    settings = MailSettings.from_config(app.config)
    if not settings.smtp_host:
        return {"sent": 0, "failed": 0, "retry": 0}
    with app.app_context():
        try:
            with SMTPTransport(settings) as transport:
                return send_due(db.session, transport, settings, now=now, limit=limit, commit=db.session.commit)
        except Exception:
            db.session.rollback()
            raise


@bp.before_request
def only_admins():
    who = actor()
    if not permissions.can_manage_mail(who):
        abort(404 if who is None else 403)


@bp.get("/")
def index():
    status = request.args.get("status") or None
    if status not in (None, *OUTBOX_STATUSES):
        status = None
    page = list_outbox(db.session, actor(), status=status, page=request.args.get("page", 1, type=int),
                       per_page=PER_PAGE)
    return render_template("outbox.html", mails=page, status=status, counts=outbox_counts(db.session, actor()),
                           smtp_host=bool(current_app.config.get("SMTP_HOST")))


def _back():
    return redirect(url_for("outbox.index", status=request.form.get("status") or None,
                            page=request.form.get("page", 1, type=int)))


@bp.post("/<int:mail_id>/retry")
def retry(mail_id: int):
    n = retry_failed(db.session, actor(), [mail_id])
    db.session.commit()
    flash(_("The mail will be sent again shortly.") if n else _("Nothing to retry."), "success")
    return _back()


@bp.post("/retry-failed")
def retry_all():
    n = retry_failed(db.session, actor(), "all")
    db.session.commit()
    flash(_("%(n)s failed mails will be sent again shortly.", n=n) if n else _("No failed mails."), "success")
    return _back()

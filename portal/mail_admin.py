"""Admin pages for incoming mail: what the intake did with each message, and the quarantine
(download the raw message, mark it dealt with, take it in again). Also the wiring the CLI
and the background worker share: :func:`intake_options` and :func:`fetch_mailbox`.

The rules live in :mod:`kb.mail_in` (intake), :mod:`kb.mail_fetch` (IMAP) and
:mod:`kb.mail_inbox` (this page's services).
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from kb import mail_inbox, permissions
from kb.errors import NotFound, ValidationError
from kb.mail_fetch import ImapSettings, MailboxError, fetch_once
from kb.mail_in import MailSettings
from portal.extensions import db
from portal.security import actor

log = logging.getLogger(__name__)
bp = Blueprint("mail_admin", __name__, url_prefix="/admin/mail")
PER_PAGE = 25
SUGGESTIONS = 3
RAW_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


def mail_settings(app: Flask | None = None) -> MailSettings:
    return MailSettings.from_config((app or current_app).config)


def _suggest(session, user, text: str) -> list[tuple[str, str]]:
    """Published public articles for the "received" mail, as the portal's intake would offer."""
    from kb.search_service import search_articles
    from portal.search_ext import engine

    return [(s.article.title, f"/kb/{s.article.id}")
            for s in search_articles(session, user, engine(), text, limit=SUGGESTIONS)]


def intake_options() -> dict:
    """``embedder`` (loaded only when a new ticket needs it) and ``suggest`` for kb.mail_in."""
    from portal.search_ext import holder

    h = holder()
    return {"embedder": h.embedder, "suggest": _suggest}


def fetch_mailbox(app: Flask) -> dict:
    """Fetch the configured IMAP mailbox once (for the background worker every IMAP_SECONDS
    and ``flask intake imap``); returns counts by outcome, ``{}`` without IMAP_HOST, and
    ``{"error": message}`` when the mailbox cannot be reached. Commits per message."""
    if not app.config.get("IMAP_HOST"):
        return {}
    with app.app_context():
        try:
            return fetch_once(db.session, ImapSettings.from_config(app.config), mail_settings(app),
                              commit=db.session.commit, rollback=db.session.rollback, **intake_options())
        except MailboxError as exc:
            log.warning("mail intake: %s", exc)
            return {"error": str(exc)}
        finally:
            db.session.remove()


@bp.before_request
def only_admins():
    who = actor()
    if not permissions.can_manage_mail(who):
        abort(404 if who is None else 403)


def _status_labels() -> dict:
    return {"attention": _("Needs attention"), "ticket": _("New ticket"), "reply": _("Reply"),
            "followup": _("Follow-up ticket"), "ignored": _("Ignored"), "quarantined": _("Quarantined"),
            "refused": _("Refused")}


@bp.get("/")
def index():
    status = request.args.get("status") or None
    if status not in (None, *mail_inbox.FILTERS):
        status = None
    page = mail_inbox.list_inbound(db.session, actor(), status=status, page=request.args.get("page", 1, type=int),
                                   per_page=PER_PAGE)
    return render_template("mail_admin/index.html", messages=page, status=status, labels=_status_labels(),
                           filters=mail_inbox.FILTERS, attention=mail_inbox.attention_count(db.session),
                           imap_host=current_app.config.get("IMAP_HOST") or "",
                           max_size=current_app.config.get("MAIL_MAX_BYTES", 0))


def _back():
    return redirect(url_for("mail_admin.index", status=request.form.get("status") or None,
                            page=request.form.get("page", 1, type=int)))


@bp.get("/<int:inbound_id>/raw")
def raw(inbound_id: int):
    """The stored message as a file to save, never rendered by the browser."""
    row, path = mail_inbox.raw_message(db.session, actor(), inbound_id, mail_settings())
    response = send_file(path, mimetype="message/rfc822", as_attachment=True,
                         download_name=f"inbound-{row.id}.eml", max_age=None, conditional=False)
    response.headers.update(RAW_HEADERS)
    return response


@bp.post("/<int:inbound_id>/release")
def release(inbound_id: int):
    mail_inbox.release(db.session, actor(), inbound_id)
    db.session.commit()
    flash(_("Marked as dealt with."), "success")
    return _back()


@bp.post("/<int:inbound_id>/reprocess")
def reprocess(inbound_id: int):
    try:
        outcome = mail_inbox.reprocess(db.session, actor(), inbound_id, mail_settings(), **intake_options())
    except (ValidationError, NotFound) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back()
    db.session.commit()
    label = _status_labels().get(outcome.status, outcome.status)
    if outcome.status in ("quarantined", "refused"):
        flash(_("Taken in again: %(status)s. %(reason)s", status=label, reason=outcome.reason), "error")
    else:
        flash(_("Taken in again: %(status)s.", status=label), "success")
    return _back()

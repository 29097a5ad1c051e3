"""Confirm or reopen a resolved ticket from the links in the "resolved" email.

The link carries a signed token (kb.mail_send.sign_action: user, ticket, action; valid
14 days), so the requester can act from their mailbox without a password (contacts have
none). The GET only shows what will happen: mail scanners follow links, so the change
needs the POST (CSRF-protected). The action runs as the token's user, who is *not* logged
in: the token grants this one action on this one ticket, nothing else.
"""
from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from kb import permissions, ticket_work
from kb.errors import InvalidTransition, ValidationError
from kb.mail_send import ACTIONS, ActionTokenError, verify_action
from kb.ticket_flow import REASON_MAX, RESOLVED
from kb.tickets import Ticket
from kb.users import User
from portal.errors import error_response
from portal.extensions import db
from portal.tickets import bp
from portal.tickets.labels import status_label


class MailActionForm(FlaskForm):
    reason = TextAreaField(_l("What is still not working?"), validators=[Length(max=REASON_MAX)])


def _check(ticket_id: int, action: str, token: str | None):
    """(user, ticket), or the error page to show instead."""
    try:
        user_id = verify_action(current_app.config["SECRET_KEY"], token, ticket_id=ticket_id, action=action)
    except ActionTokenError as e:
        if e.expired:
            return None, None, error_response(400, _(
                "This link has expired: the links in our emails work for 14 days. Log in and open the ticket "
                "to confirm or reopen it."))
        return None, None, error_response(400, _(
            "This link is not valid. Use the link from the newest email about your ticket, or log in and open "
            "the ticket."))
    user, ticket = db.session.get(User, user_id), db.session.get(Ticket, ticket_id)
    if user is None or not user.is_active or ticket is None or not permissions.can_view_ticket(user, ticket):
        return None, None, error_response(404, _("We could not find that ticket."))
    return user, ticket, None


def _not_waiting(ticket, action: str):
    """A friendly page when the ticket is no longer resolved (already confirmed, reopened...)."""
    if ticket.status == "closed":
        message = _("This ticket is already closed. Thank you!")
    elif ticket.status == "reopened" and action == "reopen":
        message = _("This ticket was already reopened; the support team is working on it again.")
    else:
        message = _("This ticket is no longer waiting for your confirmation (it is now: %(status)s).",
                    status=status_label(ticket.status))
    return render_template("tickets/mail_action.html", ticket=ticket, action=action, done=message, form=None)


@bp.route("/<int:ticket_id>/mail/<action>", methods=["GET", "POST"])
def mail_action(ticket_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    token = request.args.get("t")
    user, ticket, refusal = _check(ticket_id, action, token)
    if refusal is not None:
        return refusal
    if ticket.status != RESOLVED:
        return _not_waiting(ticket, action)
    form = MailActionForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            if form.errors.get("csrf_token"):
                abort(400, _("Your form expired or was sent from another site. Reload the page and try again."))
            status = 400
        else:
            try:
                if action == "confirm":
                    ticket_work.confirm(db.session, user, ticket)
                    done = _("Thank you: the ticket is closed.")
                else:
                    ticket_work.reopen(db.session, user, ticket, form.reason.data or "")
                    done = _("The ticket is reopened; the support team will look at it again.")
            except ValidationError as e:
                db.session.rollback()
                form.reason.errors = [*form.reason.errors, _("Tell us what is still not working.")
                                      if e.field == "reason" else str(e)]
                status = 400
            except InvalidTransition:  # someone else moved it in the meantime
                db.session.rollback()
                return _not_waiting(db.session.get(Ticket, ticket_id), action)
            else:
                db.session.commit()
                return render_template("tickets/mail_action.html", ticket=ticket, action=action, done=done,
                                       form=None)
    return render_template("tickets/mail_action.html", ticket=ticket, action=action, form=form, token=token,
                           user=user, done=None), status

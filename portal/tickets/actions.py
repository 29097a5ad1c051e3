"""The ticket page's buttons and forms: each posts here, calls one kb service, commits.

On a validation error the ticket page is shown again (status 400) with the submitted
form and its message, so nothing typed is lost; permission and state errors go to the
error pages through portal.errors.
"""
from __future__ import annotations

from datetime import timezone

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from kb import ticket_work
from kb.errors import ValidationError
from kb.tickets import get_ticket
from portal.extensions import db
from portal.security import actor
from portal.tickets import bp
from portal.tickets.page import FORMS, fill_choices, ticket_page_context
from portal.tickets.views import _split_category


def _again(ticket, name: str, form, error: str | None = None, field_name: str | None = None):
    """Show the page again with this form's input and errors (a service's error goes next
    to the field it names, or to the top of the page)."""
    db.session.rollback()
    ticket = get_ticket(db.session, actor(), ticket.id)
    if error:
        field = form._fields.get(field_name or "")
        if field is not None:
            field.errors = list(field.errors) + [error]
        else:
            flash(error, "error")
    context = ticket_page_context(ticket, {name: form})
    context["open_form"] = name
    return render_template("tickets/view.html", **context), 400


def _done(ticket, message: str, anchor: str = ""):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("tickets.view", ticket_id=ticket.id) + (f"#{anchor}" if anchor else ""))


def _run(ticket_id: int, name: str, action, message: str, anchor: str = ""):
    """Validate the named form, run ``action(ticket, form)``, and answer."""
    ticket = get_ticket(db.session, actor(), ticket_id)
    form = FORMS[name](prefix=name)
    fill_choices({name: form}, ticket)
    if not form.validate_on_submit():
        if form.errors.get("csrf_token"):
            abort(400, _("Your form expired or was sent from another site. Reload the page and try again."))
        return _again(ticket, name, form)
    try:
        extra = action(ticket, form)
    except ValidationError as e:
        return _again(ticket, name, form, str(e), e.field)
    for error in extra if isinstance(extra, list) else []:  # messages about rejected files
        flash(error, "error")
    return _done(ticket, message, anchor)


def _upload(ticket, form, *, internal=False, message=None, purpose="attachment"):
    from portal.tickets.attachments import upload_files
    db.session.flush()
    return upload_files(ticket, request.files.getlist(form.files.name), internal=internal, message=message,
                        purpose=purpose)


@bp.post("/<int:ticket_id>/reply")
@login_required
def reply(ticket_id: int):
    def act(ticket, form):
        user = actor()
        if form.mode.data == "ask":
            msg = ticket_work.ask_requester(db.session, user, ticket, form.body.data)
        else:
            msg = ticket_work.reply(db.session, user, ticket, form.body.data, internal=form.mode.data == "note")
        return _upload(ticket, form, internal=msg.internal, message=msg)
    return _run(ticket_id, "reply", act, _("Your message was added."), "conversation")


@bp.post("/<int:ticket_id>/requester-reply")
@login_required
def requester_reply(ticket_id: int):
    def act(ticket, form):
        msg = ticket_work.reply(db.session, actor(), ticket, form.body.data)
        return _upload(ticket, form, message=msg)
    return _run(ticket_id, "requester_reply", act, _("Your reply was sent."), "conversation")


@bp.post("/<int:ticket_id>/take")
@login_required
def take(ticket_id: int):
    return _run(ticket_id, "action", lambda t, f: ticket_work.take(db.session, actor(), t),
                _("The ticket is yours."))


@bp.post("/<int:ticket_id>/acknowledge")
@login_required
def acknowledge(ticket_id: int):
    def act(ticket, form):
        eta = form.expected_completion_at.data.replace(tzinfo=timezone.utc)
        ticket_work.acknowledge(db.session, actor(), ticket, planned_actions=form.planned_actions.data,
                                expected_completion_at=eta)
    return _run(ticket_id, "acknowledge", act, _("Accepted. The requester sees your plan and the expected time."))


@bp.post("/<int:ticket_id>/start")
@login_required
def start(ticket_id: int):
    return _run(ticket_id, "action", lambda t, f: ticket_work.start_work(db.session, actor(), t),
                _("The ticket is in progress."))


@bp.post("/<int:ticket_id>/resolve")
@login_required
def resolve(ticket_id: int):
    return _run(ticket_id, "resolve", lambda t, f: ticket_work.resolve(db.session, actor(), t, f.resolution.data),
                _("Resolved. The requester is asked to confirm."))


@bp.post("/<int:ticket_id>/confirm")
@login_required
def confirm(ticket_id: int):
    return _run(ticket_id, "action", lambda t, f: ticket_work.confirm(db.session, actor(), t),
                _("Thank you for confirming. The ticket is closed."), "survey")


@bp.post("/<int:ticket_id>/reopen")
@login_required
def reopen(ticket_id: int):
    return _run(ticket_id, "reopen", lambda t, f: ticket_work.reopen(db.session, actor(), t, f.reason.data),
                _("The ticket is open again and goes back to the agent."))


@bp.post("/<int:ticket_id>/cancel")
@login_required
def cancel(ticket_id: int):
    return _run(ticket_id, "cancel", lambda t, f: ticket_work.cancel(db.session, actor(), t, f.reason.data),
                _("The ticket was withdrawn."))


@bp.post("/<int:ticket_id>/plan")
@login_required
def plan(ticket_id: int):
    def act(ticket, form):
        ticket_work.save_plan(db.session, actor(), ticket, diagnosis=form.diagnosis.data, steps=form.steps.data,
                              expected_effect=form.expected_effect.data, risks=form.risks.data)
    return _run(ticket_id, "plan", act, _("The plan was saved."), "plan")


@bp.post("/<int:ticket_id>/collaborators")
@login_required
def add_collaborator(ticket_id: int):
    def act(ticket, form):
        kind, _sep, ident = form.who.data.partition(":")
        if not ident.isdigit() or kind not in ("user", "team"):
            raise ValidationError(_("Choose an agent or a team."), "who")
        key = "user_id" if kind == "user" else "team_id"
        ticket_work.add_collaborator(db.session, actor(), ticket, **{key: int(ident)})
    return _run(ticket_id, "collaborator", act, _("Collaborator added."), "collaborators")


@bp.post("/<int:ticket_id>/collaborators/<int:collaborator_id>/remove")
@login_required
def remove_collaborator(ticket_id: int, collaborator_id: int):
    return _run(ticket_id, "action",
                lambda t, f: ticket_work.remove_collaborator(db.session, actor(), t, collaborator_id),
                _("Collaborator removed."), "collaborators")


@bp.post("/<int:ticket_id>/articles")
@login_required
def link_article(ticket_id: int):
    return _run(ticket_id, "link", lambda t, f: ticket_work.link_article(db.session, actor(), t, f.article_id.data),
                _("Article linked to the resolution."), "articles")


@bp.post("/<int:ticket_id>/articles/<int:article_id>/unlink")
@login_required
def unlink_article(ticket_id: int, article_id: int):
    return _run(ticket_id, "action", lambda t, f: ticket_work.unlink_article(db.session, actor(), t, article_id),
                _("Article unlinked."), "articles")


@bp.post("/<int:ticket_id>/triage")
@login_required
def triage(ticket_id: int):
    from kb import triage_service

    def act(ticket, form):
        category_id, subcategory_id = _split_category(form.category.data)
        triage_service.correct(db.session, actor(), ticket, category_id=category_id, subcategory_id=subcategory_id,
                               impact=form.impact.data or None, urgency=form.urgency.data or None,
                               priority=form.priority.data or None, reason=form.reason.data or "")
    return _run(ticket_id, "triage", act, _("Classification updated."), "triage")


@bp.post("/<int:ticket_id>/assign")
@login_required
def assign(ticket_id: int):
    from kb import routing
    return _run(ticket_id, "assign", lambda t, f: routing.reassign(db.session, actor(), t, int(f.assignee_id.data),
                                                                   f.reason.data),
                _("The ticket was reassigned."), "assignment")


@bp.post("/<int:ticket_id>/transfer")
@login_required
def transfer(ticket_id: int):
    from kb import routing
    return _run(ticket_id, "transfer", lambda t, f: routing.transfer(db.session, actor(), t, int(f.team_id.data),
                                                                     f.reason.data),
                _("The ticket was transferred; its history stays with it."), "assignment")

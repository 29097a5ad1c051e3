"""The satisfaction survey page, and the ``survey_state`` helper the ticket page's
partial (tickets/_survey_summary.html) uses to show the answer or the call to action."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from kb import surveys
from kb.errors import InvalidTransition, KBError, NotFound, PermissionDenied, ValidationError
from kb.tickets import get_ticket
from portal.errors import error_response
from portal.extensions import db
from portal.security import actor
from portal.tickets import bp

SCALE = [SelectChoice(1, _l("1 – very poor")), SelectChoice(2, _l("2 – poor")), SelectChoice(3, _l("3 – fair")),
         SelectChoice(4, _l("4 – good")), SelectChoice(5, _l("5 – excellent"))]


def _to_rating(value):
    """Anything that is not a whole number becomes "no choice", so the field shows its own
    message instead of WTForms' generic "could not coerce"."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rating_field(label, missing):
    return RadioField(label, choices=SCALE, coerce=_to_rating, invalid_choice_message=missing)


class SurveyForm(FlaskForm):
    speed = _rating_field(_l("How quickly did we respond?"), _l("Choose a rating for response speed."))
    effectiveness = _rating_field(_l("How well did the solution work?"),
                                  _l("Choose a rating for the effectiveness of the solution."))
    communication = _rating_field(_l("How were our communication and attitude?"),
                                  _l("Choose a rating for communication and attitude."))
    comment = TextAreaField(_l("Anything else you would like to tell us? (optional)"),
                            validators=[Length(max=surveys.COMMENT_MAX)])


def _refusal(e: KBError):
    """The service's reasons, in the reader's language (kb messages are English)."""
    known = {surveys.ALREADY_RATED: _("You have already rated this ticket."),
             surveys.NOT_CLOSED: _("You can rate a ticket once it is closed."),
             surveys.NOT_REQUESTER: _("Only the person who filed the ticket can rate it.")}
    if str(e) not in known:
        raise e
    return error_response(403 if isinstance(e, PermissionDenied) else 409, known[str(e)])


@bp.route("/<int:ticket_id>/survey", methods=["GET", "POST"])
@login_required
def survey(ticket_id: int):
    user = actor()
    ticket = get_ticket(db.session, user, ticket_id)          # 404 for someone else's ticket
    try:
        surveys.require_can_answer(db.session, user, ticket)  # 403 staff, 409 not closed / already rated
    except KBError as e:
        return _refusal(e)
    form = SurveyForm()
    if form.validate_on_submit():
        try:
            surveys.submit_survey(db.session, user, ticket, speed=form.speed.data,
                                  effectiveness=form.effectiveness.data, communication=form.communication.data,
                                  comment=form.comment.data or "")
        except InvalidTransition as e:  # a concurrent answer got there first
            db.session.rollback()
            return _refusal(e)
        except ValidationError as e:
            db.session.rollback()
            target = getattr(form, e.field or "", None)
            if target is None:
                raise
            target.errors = [*target.errors, str(e)]
        else:
            db.session.commit()
            flash(_("Thank you for rating our service."), "success")
            return redirect(url_for("tickets.view", ticket_id=ticket.id))
    return render_template("tickets/survey.html", form=form, ticket=ticket)


@bp.app_template_global("survey_state")
def survey_state(ticket) -> dict:
    """What the ticket page shows about the survey to the current viewer."""
    user = actor()
    try:
        answer = surveys.get_survey(db.session, user, ticket)
    except NotFound:
        return {"answer": None, "can_answer": False}
    return {"answer": answer, "can_answer": answer is None and surveys.can_answer(user, ticket)}

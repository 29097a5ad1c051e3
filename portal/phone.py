"""The phone channel: an agent logs a call on the caller's behalf (/desk/call).

The caller is found as the agent types (``/desk/call/people``) or registered on the spot
as a contact; the ticket is then filed exactly like a portal ticket (kb.tickets.create_ticket
with ``requester=`` the caller and channel "phone"), so the caller gets the same "received"
confirmation and everything after it.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms import HiddenField, StringField
from wtforms.validators import Length, Optional

from kb import contacts, permissions
from kb.errors import ValidationError
from kb.tickets import create_ticket
from kb.users import User
from portal.extensions import db
from portal.security import actor
from portal.tickets.views import TicketForm, _embedder, _split_category, filed, show_error

bp = Blueprint("phone", __name__, url_prefix="/desk/call")


class CallForm(TicketForm):
    caller_id = HiddenField()
    caller_name = StringField(_l("Caller's name"), validators=[Optional(), Length(max=120)],
                              description=_l("Only for a caller who is not found above: we register them as a contact."))
    caller_email = StringField(_l("Caller's email"), validators=[Optional(), Length(max=254)])
    caller_phone = StringField(_l("Caller's phone"), validators=[Optional(), Length(max=40)])


def _require_agent():
    who = actor()
    permissions.require(permissions.can_file_on_behalf(who), _("Logging calls is for support agents."))
    return who


def _caller(form: CallForm, agent) -> User:
    """The chosen person, or a new contact from the typed details."""
    if form.caller_id.data:
        try:
            user = db.session.get(User, int(form.caller_id.data))
        except ValueError:
            user = None
        if user is None or not user.is_active:
            raise ValidationError(_("Choose the caller again: that person was not found."), "caller_name")
        return user
    if not (form.caller_email.data or "").strip():
        raise ValidationError(_("Find the caller, or enter their name and email to register them."),
                              "caller_email")
    return contacts.create_contact(db.session, agent, email=form.caller_email.data, name=form.caller_name.data,
                                   phone=form.caller_phone.data)


@bp.route("/", methods=["GET", "POST"])
@login_required
def log_call():
    agent = _require_agent()
    form = CallForm()
    form.fill_choices(str(get_locale()))
    chosen = db.session.get(User, int(form.caller_id.data)) if (form.caller_id.data or "").isdigit() else None
    if form.validate_on_submit():
        try:
            caller = _caller(form, agent)
            category_id, subcategory_id = _split_category(form.category.data)
            ticket = create_ticket(db.session, agent, requester=caller, channel="phone",
                                   title=form.title.data, description=form.description.data,
                                   contact_email=form.contact_email.data or caller.email,
                                   contact_phone=form.contact_phone.data or form.caller_phone.data or caller.phone,
                                   category_id=category_id, subcategory_id=subcategory_id,
                                   impact=form.impact.data or None, urgency=form.urgency.data or None,
                                   embedder=_embedder())
        except ValidationError as e:
            show_error(form, e)
            return render_template("desk/call.html", form=form, chosen=chosen), 400
        return filed(ticket, form, _("Call logged as %(ref)s for %(name)s; they get the same confirmation as a "
                                     "portal ticket.", ref=ticket.reference, name=caller.name))
    return render_template("desk/call.html", form=form, chosen=chosen)


@bp.get("/people")
@login_required
def people():
    """Search-as-you-type for the caller: name, email or phone contains the text."""
    agent = _require_agent()
    found = contacts.search_people(db.session, agent, request.args.get("q", ""))
    return jsonify({"people": [{"id": u.id, "name": u.name, "email": u.email, "phone": u.phone or "",
                                "contact": bool(u.is_contact)} for u in found]})

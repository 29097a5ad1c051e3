"""Everything the ticket page shows, for the requester and for the agent, and its forms.

The same function builds the page after a failed action, with the submitted form in
place of the empty one, so whatever was typed stays on screen next to the error.
"""
from __future__ import annotations

import logging

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (BooleanField, DateTimeLocalField, HiddenField, IntegerField, MultipleFileField, SelectField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from kb import permissions, ticket_sla, ticket_similarity, ticket_work
from kb.attachments import visible_attachments
from kb.search_service import search_articles
from kb.teams import Team, TeamMember
from kb.ticket_events import visible_events
from kb.ticket_flow import available_transitions
from kb.ticket_messages import BODY_MAX, visible_messages
from kb.ticket_work import TEXT_MAX
from kb.users import User
from portal.extensions import db
from portal.search_ext import engine, holder
from portal.security import actor
from portal.tickets.labels import IMPACT_LABELS, PRIORITY_LABELS, URGENCY_LABELS, describe_event, status_label

log = logging.getLogger(__name__)
REASON_MAX = 2000


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=BODY_MAX)])
    mode = SelectField(_l("Send as"), default="reply", choices=[
        ("reply", _l("Public reply")), ("ask", _l("Public reply, then wait for the requester")),
        ("note", _l("Internal note (staff only)"))])
    files = MultipleFileField(_l("Attach files"))


class RequesterReplyForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), validators=[DataRequired(), Length(max=BODY_MAX)])
    files = MultipleFileField(_l("Attach files"))


class AcknowledgeForm(FlaskForm):
    planned_actions = TextAreaField(_l("Planned actions"), validators=[DataRequired(), Length(max=TEXT_MAX)],
                                    description=_l("What you will do next. The requester sees this."))
    expected_completion_at = DateTimeLocalField(_l("Expected completion (UTC)"), format="%Y-%m-%dT%H:%M",
                                                validators=[InputRequired()])


class ResolveForm(FlaskForm):
    resolution = TextAreaField(_l("Resolution"), validators=[DataRequired(), Length(max=TEXT_MAX)],
                               description=_l("What was wrong and what fixed it. The requester sees this "
                                              "and is asked to confirm."))


class PlanForm(FlaskForm):
    diagnosis = TextAreaField(_l("Diagnosis and evidence"), validators=[Optional(), Length(max=TEXT_MAX)],
                              description=_l("What the logs, screenshots and tests show."))
    steps = TextAreaField(_l("Steps"), validators=[DataRequired(), Length(max=TEXT_MAX)])
    expected_effect = TextAreaField(_l("Expected effect"), validators=[Optional(), Length(max=TEXT_MAX)])
    risks = TextAreaField(_l("Risks and how they are handled"), validators=[Optional(), Length(max=TEXT_MAX)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=REASON_MAX)])


class CollaboratorForm(FlaskForm):
    who = SelectField(_l("Bring in"), choices=[], validators=[DataRequired()])


class ArticleLinkForm(FlaskForm):
    article_id = IntegerField(validators=[InputRequired()])


class TriageForm(FlaskForm):
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    impact = SelectField(_l("Impact"), choices=[], validate_choice=False)
    urgency = SelectField(_l("Urgency"), choices=[], validate_choice=False)
    priority = SelectField(_l("Priority override"), choices=[], validate_choice=False,
                           description=_l("Leave on “from the matrix” unless there is a reason."))
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=REASON_MAX)])


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assign to"), choices=[], validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=REASON_MAX)])


class TransferForm(FlaskForm):
    team_id = SelectField(_l("Transfer to team"), choices=[], validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=REASON_MAX)])
    keep_assignee = BooleanField(_l("Let routing pick an agent in the new team"), default=True)


class ActionForm(FlaskForm):
    """A button with nothing to fill in: only the CSRF token."""
    next_status = HiddenField()


class GroupTargetForm(FlaskForm):
    """Mark as duplicate of / merge into / add to incident (portal/tickets/grouping.py)."""
    target = StringField(_l("Ticket"), validators=[DataRequired(), Length(max=40)],
                         description=_l("Its reference (HD-2026-000123) or number."))
    note = TextAreaField(_l("Note to the requester (optional)"), validators=[Optional(), Length(max=REASON_MAX)])


class IncidentForm(FlaskForm):
    title = StringField(_l("Incident title"), validators=[DataRequired(), Length(max=200)],
                        description=_l("Requesters who describe the same problem see this title."))
    description = TextAreaField(_l("What is known"), validators=[DataRequired(), Length(max=TEXT_MAX)])


class MembersForm(FlaskForm):
    tickets = StringField(_l("Tickets"), validators=[DataRequired(), Length(max=1000)],
                          description=_l("References or numbers, separated by commas or spaces."))


FORMS = {"reply": ReplyForm, "requester_reply": RequesterReplyForm, "acknowledge": AcknowledgeForm,
         "resolve": ResolveForm, "plan": PlanForm, "reopen": ReasonForm, "cancel": ReasonForm,
         "collaborator": CollaboratorForm, "link": ArticleLinkForm, "triage": TriageForm, "assign": AssignForm,
         "transfer": TransferForm, "action": ActionForm, "duplicate": GroupTargetForm, "merge": GroupTargetForm,
         "add_incident": GroupTargetForm, "incident": IncidentForm, "members": MembersForm}


def _agents() -> list[User]:
    return list(db.session.scalars(select(User).where(User.active.is_(True), User.role.in_(("agent", "lead", "admin")))
                                   .order_by(User.name)))


def fill_choices(forms: dict, ticket) -> None:
    """Fill the choices of whichever of the collaborator, transfer, assign and triage forms
    ``forms`` holds (the page has all four; an action validating one passes only that one)."""
    from portal.tickets.views import category_choices

    locale = str(get_locale())
    if {"collaborator", "transfer"} & forms.keys():
        teams = list(db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name)))
    if {"collaborator", "assign"} & forms.keys():
        agents = _agents()
    if "collaborator" in forms:
        forms["collaborator"].who.choices = (
            [(f"user:{u.id}", u.name) for u in agents if u.id != ticket.assignee_id]
            + [(f"team:{t.id}", str(_l("Team: %(name)s", name=t.label(locale)))) for t in teams])
    if "transfer" in forms:
        forms["transfer"].team_id.choices = [(str(t.id), t.label(locale)) for t in teams if t.id != ticket.team_id]
    if "assign" in forms:
        members = set(db.session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == ticket.team_id))) \
            if ticket.team_id else {u.id for u in agents}
        forms["assign"].assignee_id.choices = [(str(u.id), u.name) for u in agents
                                               if u.id in members and u.id != ticket.assignee_id]
    if "triage" in forms:
        triage = forms["triage"]
        triage.category.choices = category_choices(locale)
        triage.impact.choices = [("", "—")] + [(k, str(v)) for k, v in IMPACT_LABELS.items()]
        triage.urgency.choices = [("", "—")] + [(k, str(v)) for k, v in URGENCY_LABELS.items()]
        triage.priority.choices = [("", str(_l("From the matrix")))] + [(k, str(v))
                                                                        for k, v in PRIORITY_LABELS.items()]
        if not triage.is_submitted():
            current = ticket.subcategory or ticket.category
            triage.category.data = current.slug if current else ""
            triage.impact.data = ticket.impact or ""
            triage.urgency.data = ticket.urgency or ""


def _safe(what: str, fn, default):
    """Search and similarity help the agent but must never break the ticket page."""
    try:
        return fn()
    except Exception:  # noqa: BLE001
        log.warning("ticket page: %s unavailable", what, exc_info=True)
        return default


def ticket_page_context(ticket, submitted: dict | None = None) -> dict:
    from kb.duplicates import grouping_of

    user = actor()
    session = db.session
    ticket_work.record_view(session, user, ticket)
    worker = permissions.can_work_ticket(user, ticket)
    forms = {name: cls(formdata=None, prefix=name) for name, cls in FORMS.items()}
    forms.update(submitted or {})
    fill_choices(forms, ticket)
    messages = visible_messages(session, user, ticket)
    events = visible_events(session, user, ticket)
    ids = {m.author_id for m in messages} | {e.actor_id for e in events if e.actor_id}
    people = list(session.scalars(select(User).where(User.id.in_(ids)))) if ids else []
    names = {u.id: u.name for u in people}
    if not permissions.is_staff(user) and user.id != ticket.requester_id:  # a follower: colleagues stay anonymous
        names = {u.id: u.name if permissions.is_staff(u) or u.id == user.id else str(_l("A colleague"))
                 for u in people}
    context = {
        "ticket": ticket, "forms": forms, "worker": worker, "staff": permissions.is_staff(user),
        "is_requester": user.id == ticket.requester_id,
        "messages": messages, "names": names,
        "timeline": [(e, describe_event(e, names, permissions.is_staff(user))) for e in events],
        "grouping": grouping_of(session, user, ticket),
        "attachments": visible_attachments(session, user, ticket),
        "plans": ticket_work.plans(session, user, ticket),
        "linked_articles": ticket_work.linked_articles(session, user, ticket),
        "transitions": available_transitions(user, ticket),
        "status_label": status_label, "priority_labels": PRIORITY_LABELS,
        "impact_labels": IMPACT_LABELS, "urgency_labels": URGENCY_LABELS,
        "sla": _safe("sla", lambda: ticket_sla.status(session, ticket), None),
    }
    if worker:
        context["collaborators"] = ticket_work.collaborators(session, ticket)
        context["related_articles"] = _safe("search", lambda: search_articles(
            session, user, engine(), ticket.text, limit=5), [])
        context["similar_tickets"] = _safe("similar tickets", lambda: ticket_similarity.similar_resolved(
            session, user, ticket, holder().embedder(), limit=5), [])
    return context

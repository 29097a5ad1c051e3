"""/api/v1/tickets: file, list one's own, read and reply, with the same services and
permission checks as the ticket pages (a requester never receives an internal note)."""
from __future__ import annotations

from flask import current_app, jsonify, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from kb import permissions, ticket_work
from kb.taxonomy import get_category
from kb.ticket_similarity import MemoEmbedder
from kb.ticket_messages import visible_messages
from kb.tickets import IMPACTS, URGENCIES, Ticket, create_ticket, get_ticket
from kb.users import User
from portal.api import bp
from portal.api.auth import api_actor
from portal.api.common import (bool_field, embedder, iso, json_body, page_args, page_json, public_url,
                               string_field)
from portal.api.errors import ApiError
from portal.extensions import db

CREATE_FIELDS = ("title", "description", "category", "impact", "urgency")
REPLY_FIELDS = ("body", "internal")


def ticket_json(ticket: Ticket) -> dict:
    return {
        "id": ticket.id, "reference": ticket.reference, "title": ticket.title, "description": ticket.description,
        "status": ticket.status, "priority": ticket.priority, "channel": ticket.channel,
        "category": ticket.category.slug if ticket.category else None,
        "subcategory": ticket.subcategory.slug if ticket.subcategory else None,
        "impact": ticket.impact, "urgency": ticket.urgency,
        "planned_actions": ticket.planned_actions, "expected_completion_at": iso(ticket.expected_completion_at),
        "resolution": ticket.resolution, "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
        "resolved_at": iso(ticket.resolved_at), "closed_at": iso(ticket.closed_at),
        "url": public_url(url_for("tickets.view", ticket_id=ticket.id)),
    }


def _messages_json(ticket: Ticket, actor: User) -> list[dict]:
    """Through visible_messages: internal notes only ever reach staff."""
    messages = visible_messages(db.session, actor, ticket)
    author_ids = {m.author_id for m in messages}
    rows = db.session.execute(select(User.id, User.name).where(User.id.in_(author_ids))) if author_ids else []
    names = {user_id: name for user_id, name in rows}
    return [{"id": m.id, "author": {"id": m.author_id, "name": names.get(m.author_id, "")}, "body": m.body,
             "internal": m.internal, "created_at": iso(m.created_at)} for m in messages]


def _choice(data: dict, name: str, options: tuple[str, ...]) -> str | None:
    value = string_field(data, name)
    if value is not None and value not in options:
        raise ApiError(400, _("“%(name)s” must be one of: %(options)s.", name=name, options=", ".join(options)),
                       code="validation_error", field=name)
    return value


def _category(data: dict) -> tuple[int | None, int | None]:
    slug = string_field(data, "category")
    if not slug:
        return None, None
    cat = get_category(db.session, slug)
    if cat is None:
        raise ApiError(400, _("Unknown category “%(slug)s”; leave it out to let triage choose.", slug=slug[:60]),
                       code="validation_error", field="category")
    return (cat.parent_id, cat.id) if cat.parent_id else (cat.id, None)


@bp.get("/tickets")
def list_tickets():
    """The caller's own tickets (as requester), newest first."""
    actor = api_actor()
    page, per_page = page_args()
    mine = Ticket.requester_id == actor.id
    total = db.session.scalar(select(func.count()).select_from(Ticket).where(mine))
    rows = db.session.scalars(select(Ticket).where(mine).order_by(Ticket.created_at.desc(), Ticket.id.desc())
                              .offset((page - 1) * per_page).limit(per_page))
    return jsonify(page_json([ticket_json(t) for t in rows], page, per_page, total))


@bp.post("/tickets")
def create():
    actor = api_actor()
    data = json_body(CREATE_FIELDS)
    title = string_field(data, "title", required=True)
    description = string_field(data, "description", required=True)
    impact, urgency = _choice(data, "impact", IMPACTS), _choice(data, "urgency", URGENCIES)
    category_id, subcategory_id = _category(data)
    db.session.commit()  # end the read transaction (and its SQLite write lock) before encoding
    ticket = create_ticket(db.session, actor, title=title, description=description, channel="api",
                           category_id=category_id, subcategory_id=subcategory_id, impact=impact, urgency=urgency,
                           embedder=MemoEmbedder.warmed(embedder(), title, description),
                           window_days=current_app.config["DEFLECTION_WINDOW_DAYS"])
    payload = {"ticket": ticket_json(ticket)}  # before the commit: reading it afterwards opens a transaction
    location = url_for("api_v1.read", ticket_id=ticket.id)
    db.session.commit()
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = location
    return response


@bp.get("/tickets/<int:ticket_id>")
def read(ticket_id: int):
    actor = api_actor()
    ticket = get_ticket(db.session, actor, ticket_id)  # NotFound (404) for someone else's
    ticket_work.record_view(db.session, actor, ticket)  # opening a restricted ticket is audited
    data = ticket_json(ticket)
    data["messages"] = _messages_json(ticket, actor)
    db.session.commit()
    return jsonify({"ticket": data})


@bp.post("/tickets/<int:ticket_id>/replies")
def add_reply(ticket_id: int):
    actor = api_actor()
    data = json_body(REPLY_FIELDS)
    body = string_field(data, "body", required=True)
    internal = bool_field(data, "internal")
    ticket = get_ticket(db.session, actor, ticket_id)
    if internal and not permissions.is_staff(actor):
        raise ApiError(403, _("Only support staff can add internal notes."), field="internal")
    message = ticket_work.reply(db.session, actor, ticket, body, internal=internal)
    db.session.commit()
    response = jsonify({"message": {"id": message.id, "author": {"id": actor.id, "name": actor.name},
                                    "body": message.body, "internal": message.internal,
                                    "created_at": iso(message.created_at)},
                        "ticket": {"id": ticket.id, "reference": ticket.reference, "status": ticket.status}})
    response.status_code = 201
    return response

"""The OpenAPI components: the shapes of what the API takes and returns.

Kept next to the code that produces those shapes (portal/api/tickets.py, search.py, chat.py
and errors.py); tests compare real responses with these schemas, so they cannot drift apart.
"""
from __future__ import annotations

from flask_babel import gettext as _

from kb.tickets import CHANNELS, IMPACTS, PRIORITY_KEYS, TITLE_MAX, URGENCIES
from kb.ticket_flow import STATUSES
from portal.api.errors import ALL_CODES


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _s(kind, description: str = "", **extra) -> dict:
    schema = {"type": kind, **extra}
    if description:
        schema["description"] = description
    return schema


def _nullable(kind: str, description: str = "", **extra) -> dict:
    return _s([kind, "null"], description, **extra)


def _obj(properties: dict, required=(), description: str = "", additional: bool = True) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    if not additional:
        schema["additionalProperties"] = False
    return schema


def schemas() -> dict:
    when = {"format": "date-time"}
    ticket = _obj({
        "id": _s("integer"),
        "reference": _s("string", _("Readable reference, e.g. HD-2026-000123.")),
        "title": _s("string"), "description": _s("string", _("What the requester wrote (plain text / Markdown).")),
        "status": _s("string", enum=list(STATUSES)), "priority": _s("string", enum=list(PRIORITY_KEYS)),
        "channel": _s("string", enum=list(CHANNELS)),
        "category": _nullable("string", _("Category slug.")), "subcategory": _nullable("string"),
        "impact": _nullable("string", enum=[*IMPACTS, None]), "urgency": _nullable("string", enum=[*URGENCIES, None]),
        "planned_actions": _nullable("string"), "expected_completion_at": _nullable("string", **when),
        "resolution": _nullable("string"), "created_at": _s("string", **when), "updated_at": _s("string", **when),
        "resolved_at": _nullable("string", **when), "closed_at": _nullable("string", **when),
        "url": _s("string", _("The ticket's page in the portal."), format="uri"),
    }, required=("id", "reference", "title", "status", "priority", "created_at", "url"))
    message = _obj({
        "id": _s("integer"),
        "author": _obj({"id": _s("integer"), "name": _s("string")}, required=("id", "name")),
        "body": _s("string"),
        "internal": _s("boolean", _("An internal note. Only support staff ever receive these.")),
        "created_at": _s("string", **when),
    }, required=("id", "author", "body", "internal", "created_at"))
    return {
        "Error": _obj({"error": _obj({
            "code": _s("string", _("Stable, machine-readable reason."), enum=ALL_CODES),
            "message": _s("string", _("For people; translated by Accept-Language.")),
            "status": _s("integer", _("The HTTP status, repeated.")),
            "field": _s("string", _("The input at fault, when there is one.")),
        }, required=("code", "message", "status"))}, required=("error",)),
        "Ticket": ticket,
        "Message": message,
        "TicketDetail": {"allOf": [ref("Ticket"), _obj({"messages": _s("array", _(
            "The conversation, oldest first: public replies, and internal notes for staff only."),
            items=ref("Message"))}, required=("messages",))]},
        "TicketEnvelope": _obj({"ticket": ref("Ticket")}, required=("ticket",)),
        "TicketDetailEnvelope": _obj({"ticket": ref("TicketDetail")}, required=("ticket",)),
        "TicketPage": _obj({
            "items": _s("array", items=ref("Ticket")), "page": _s("integer", minimum=1),
            "per_page": _s("integer", minimum=1, maximum=100), "total": _s("integer", minimum=0),
            "pages": _s("integer", minimum=1),
        }, required=("items", "page", "per_page", "total", "pages")),
        "NewTicket": _obj({
            "title": _s("string", _("A short summary."), maxLength=TITLE_MAX, minLength=1),
            "description": _s("string", _("What happened, what was tried, who is affected."), minLength=1),
            "category": _s("string", _("A category or subcategory slug; leave out to let triage choose.")),
            "impact": _s("string", _("Who is affected."), enum=list(IMPACTS)),
            "urgency": _s("string", _("How urgent it is."), enum=list(URGENCIES)),
        }, required=("title", "description"), additional=False),
        "NewReply": _obj({
            "body": _s("string", _("The message."), minLength=1),
            "internal": _s("boolean", _("An internal note (support staff only)."), default=False),
        }, required=("body",), additional=False),
        "ReplyCreated": _obj({
            "message": ref("Message"),
            "ticket": _obj({"id": _s("integer"), "reference": _s("string"), "status": _s("string")}),
        }, required=("message", "ticket")),
        "SearchQuery": _obj({
            "q": _s("string", _("The text to search for."), minLength=1),
            "limit": _s("integer", minimum=1, maximum=20),
        }, required=("q",), additional=False),
        "SearchResults": _obj({
            "query": _s("string", _("The query as it was searched (normalised).")),
            "items": _s("array", items=_obj({
                "id": _s("integer"), "title": _s("string"),
                "snippet": _s("string", _("HTML-escaped text with <mark> around the matched words.")),
                "category": _s("string"), "subcategory": _s("string"),
                "audience": _s("string", enum=["public", "internal"]), "rank": _s("integer", minimum=1),
                "url": _s("string", format="uri"),
            }, required=("id", "title", "snippet", "rank", "url"))),
        }, required=("query", "items")),
        "ChatMessage": _obj({
            "message_id": _s("string", _("The platform's id of this message; a second delivery with the same id "
                                         "is refused as a replay."), minLength=1, maxLength=200),
            "conversation_id": _s("string", _("The platform's conversation (thread, chat) id; its first message "
                                              "opens a ticket, later ones are added to it."), minLength=1,
                                  maxLength=200),
            "sender": _obj({
                "email": _s("string", _("Who wrote it; an unknown address becomes a new contact."), format="email"),
                "name": _s("string", _("Their display name (used for a new contact).")),
            }, required=("email",)),
            "text": _s("string", _("The message text (at most 20,000 characters)."), minLength=1),
            "title": _s("string", _("The ticket title for a first message; by default the start of the text."),
                        maxLength=TITLE_MAX),
            "sent_at": _s(["string", "number"], _("When it was sent (ISO 8601 or Unix time); informational.")),
        }, required=("message_id", "conversation_id", "sender", "text")),
        "ChatResult": _obj({
            "ticket": _obj({"id": _s("integer"), "reference": _s("string"), "url": _s("string", format="uri")},
                           required=("id", "reference", "url")),
            "action": _s("string", _("“created”: a new ticket; “appended”: a reply on the bound ticket."),
                         enum=["created", "appended"]),
        }, required=("ticket", "action")),
    }


def error_responses() -> dict:
    def err(description: str) -> dict:
        return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
    return {
        "BadRequest": err(_("Malformed JSON (bad_request) or an invalid field (validation_error, with “field”).")),
        "Unauthorized": err(_("No token, or a wrong, revoked or deactivated one (unauthorized).")),
        "Forbidden": err(_("The caller may not do this (forbidden).")),
        "NotFound": err(_("No such ticket, or not one the caller may see: both look the same (not_found).")),
        "Conflict": err(_("The ticket's state does not allow it, e.g. replying to a closed ticket (conflict).")),
        "PayloadTooLarge": err(_("The body is too large (payload_too_large).")),
        "UnsupportedMediaType": err(_("The body is not sent as application/json (unsupported_media_type).")),
        "RateLimited": err(_("Too many requests for this token (rate_limited); wait and retry.")),
        "Unavailable": err(_("Search is temporarily unavailable (unavailable).")),
        "ChatRefused": err(_("Unknown or inactive integration, missing or wrong signature, stale timestamp, or a "
                             "replayed message id (unauthorized).")),
    }

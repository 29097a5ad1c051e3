"""The OpenAPI 3.1 document of /api/v1 (GET /openapi.json) and the docs page built from it
(GET /api/docs): one source, so the page people read and the document tools read agree.

A test checks that every /api/v1 route of the app is described here and that the document
is valid OpenAPI.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from flask_babel import gettext as _

from portal.api.common import MAX_PER_PAGE
from portal.api.openapi_schemas import error_responses, ref, schemas

bp = Blueprint("api_docs", __name__)
VERSION = "1.0.0"


def _resp(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema_name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(schema_name)}}}


def _body(schema_name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": ref(schema_name)}}}


def _query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _errors(*names: str) -> dict:
    codes = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404", "Conflict": "409",
             "PayloadTooLarge": "413", "UnsupportedMediaType": "415", "RateLimited": "429", "Unavailable": "503",
             "ChatRefused": "401"}
    return {codes[n]: _resp(n) for n in names}


def _paths() -> dict:
    ticket_id = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"},
                 "description": _("The ticket's id (the number in its URL).")}
    search_params = [_query("q", _("The text to search for (at most MAX_QUERY_CHARS characters, 1000 by "
                                   "default; longer is refused, not cut)."), {"type": "string"}, True),
                     _query("limit", _("How many articles, 1 to 20."), {"type": "integer", "minimum": 1,
                                                                         "maximum": 20})]
    search_ok = {"200": _json("SearchResults", _("Ranked articles the caller may read.")),
                 **_errors("BadRequest", "Unauthorized", "RateLimited", "Unavailable")}
    return {
        "/api/v1/tickets": {
            "get": {"tags": ["tickets"], "operationId": "listTickets", "summary": _("List your tickets"),
                    "description": _("The tickets the token's owner filed (as requester), newest first."),
                    "parameters": [
                        _query("page", _("Page number, from 1."), {"type": "integer", "minimum": 1, "default": 1}),
                        _query("per_page", _("Tickets per page."), {"type": "integer", "minimum": 1,
                                                                     "maximum": MAX_PER_PAGE, "default": 20})],
                    "responses": {"200": _json("TicketPage", _("One page of tickets.")),
                                  **_errors("BadRequest", "Unauthorized", "RateLimited")}},
            "post": {"tags": ["tickets"], "operationId": "createTicket", "summary": _("File a ticket"),
                     "description": _("Registers, triages and routes the ticket like the portal form does "
                                      "(channel “api”); the requester is the token's owner and gets the usual "
                                      "“received” notification."),
                     "requestBody": _body("NewTicket"),
                     "responses": {"201": {**_json("TicketEnvelope", _("The new ticket.")), "headers": {
                         "Location": {"description": _("The ticket's API address."), "schema": {"type": "string"}}}},
                                   **_errors("BadRequest", "Unauthorized", "Forbidden", "UnsupportedMediaType",
                                             "RateLimited")}},
        },
        "/api/v1/tickets/{ticket_id}": {
            "get": {"tags": ["tickets"], "operationId": "getTicket", "summary": _("Read a ticket"),
                    "description": _("The ticket and its conversation. A requester gets the public messages "
                                     "only; someone else's ticket answers 404."),
                    "parameters": [ticket_id],
                    "responses": {"200": _json("TicketDetailEnvelope", _("The ticket.")),
                                  **_errors("Unauthorized", "NotFound", "RateLimited")}},
        },
        "/api/v1/tickets/{ticket_id}/replies": {
            "post": {"tags": ["tickets"], "operationId": "replyToTicket", "summary": _("Reply to a ticket"),
                     "description": _("Adds a public reply (or, for support staff, an internal note). A requester "
                                      "answering a ticket that waits for them puts it back in progress."),
                     "parameters": [ticket_id], "requestBody": _body("NewReply"),
                     "responses": {"201": _json("ReplyCreated", _("The message was added.")),
                                   **_errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                                             "UnsupportedMediaType", "RateLimited")}},
        },
        "/api/v1/search": {
            "get": {"tags": ["knowledge"], "operationId": "searchArticles", "summary": _("Search the knowledge base"),
                    "description": _("Hybrid keyword and semantic search over the articles the caller may read."),
                    "parameters": search_params, "responses": search_ok},
            "post": {"tags": ["knowledge"], "operationId": "searchArticlesPost",
                     "summary": _("Search the knowledge base (long text)"),
                     "description": _("The same search with the query in a JSON body, for texts too long for a URL."),
                     "requestBody": _body("SearchQuery"),
                     "responses": {**search_ok, **_errors("UnsupportedMediaType")}},
        },
        "/api/v1/chat/{slug}/messages": {
            "post": {"tags": ["chat"], "operationId": "receiveChatMessage", "summary": _("Chat webhook"),
                     "description": _("Called by a messaging platform. Authenticated by an HMAC signature, not a "
                                      "token: X-Helpdesk-Signature is “sha256=” and the hex HMAC-SHA256, keyed with "
                                      "the integration's secret, of the X-Helpdesk-Timestamp value, a dot, and the "
                                      "raw body. The first message of a conversation opens a ticket (channel "
                                      "“chat”) for the sender; later ones are replies on it; once that ticket is "
                                      "closed, cancelled or merged, the next message opens a new ticket."),
                     "security": [],
                     "parameters": [
                         {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"},
                          "description": _("The integration's slug, as an admin created it under /admin/chat.")},
                         {"name": "X-Helpdesk-Timestamp", "in": "header", "required": True,
                          "schema": {"type": "string", "pattern": "^[0-9]+$"},
                          "description": _("Unix time in seconds; refused when further than CHAT_MAX_SKEW_SECONDS "
                                           "(300 by default) from the server's clock.")},
                         {"name": "X-Helpdesk-Signature", "in": "header", "required": True,
                          "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                          "description": _("“sha256=” + hex HMAC-SHA256(secret, timestamp + “.” + body).")}],
                     "requestBody": _body("ChatMessage"),
                     "responses": {"201": _json("ChatResult", _("Accepted: the ticket it opened or continued.")),
                                   **_errors("BadRequest", "ChatRefused", "Forbidden", "PayloadTooLarge",
                                             "UnsupportedMediaType", "RateLimited")}},
        },
    }


def build_spec() -> dict:
    base = current_app.config.get("BASE_URL", "").rstrip("/") or "/"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Helpdesk KB API", "version": VERSION,
                 "description": _("Tickets and knowledge search for integrations. Authenticate with a personal "
                                  "API token (Authorization: Bearer hdk_…), created on the API tokens page of "
                                  "your account; it acts with exactly your rights. Every error has the same "
                                  "shape (see the Error schema).")},
        "servers": [{"url": base}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "tickets", "description": _("Your tickets.")},
                 {"name": "knowledge", "description": _("The knowledge base.")},
                 {"name": "chat", "description": _("The signed webhook for messaging platforms.")}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "hdk_…",
                                               "description": _("A personal API token.")}},
            "schemas": schemas(),
            "responses": error_responses(),
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(build_spec())


@bp.get("/api/docs")
def docs():
    from portal.api.docs import describe
    return render_template("api/docs.html", **describe(build_spec()))

"""One error shape for every API failure, so an integration handles errors in one place:

``{"error": {"code": "...", "message": "...", "status": 404, "field": "title"}}``
(``field`` only when one input is at fault). ``code`` is stable and machine-readable;
``message`` is for people and may be translated (Accept-Language).

Blueprint handlers cover what the API views raise (kb errors included). Requests that
match no route (unknown paths and wrong methods under ``/api/``) never reach a blueprint,
so the app-level 404/405 handlers are wrapped to answer those in the same shape too.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, default_exceptions

from kb.chat import SignatureRefused
from kb.errors import InvalidTransition, KBError, NotFound, PermissionDenied, ValidationError

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited",
    500: "server_error", 503: "unavailable",
}
ALL_CODES = sorted({*CODES.values(), "validation_error"})
BEARER_CHALLENGE = 'Bearer realm="helpdesk-api"'


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Authentication is required."),
        403: _("You are not allowed to do that."),
        404: _("There is nothing at this address. See /api/docs for the endpoints."),
        405: _("This method is not allowed here."),
        409: _("That change conflicts with the current state."),
        413: _("The request body is too large."),
        415: _("Send the body as JSON with the header “Content-Type: application/json”."),
        429: _("Too many requests. Wait a minute and try again."),
        500: _("Something went wrong on our side. Nothing was changed; please try again."),
        503: _("The service is temporarily unavailable; please try again later."),
    }


RETRY_AFTER_SECONDS = 5


def database_busy_message() -> str:
    """For a database that is busy (SQLite's write lock past its timeout) or restarting: the
    request's transaction was rolled back, so trying again is safe."""
    return _("The database is busy or restarting, so this request was not carried out. "
             "Please try again in a few seconds.")


class ApiError(Exception):
    """Raised by API views; rendered by :func:`error_json`."""

    def __init__(self, status: int, message: str | None = None, *, code: str | None = None,
                 field: str | None = None, headers: dict | None = None):
        super().__init__(message or "")
        self.status, self.message, self.code, self.field, self.headers = status, message, code, field, headers


def error_json(status: int, message: str | None = None, *, code: str | None = None, field: str | None = None,
               headers: dict | None = None):
    body = {"code": code or CODES.get(status, "error"), "message": message or _messages().get(status, ""),
            "status": status}
    if field:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401 and "WWW-Authenticate" not in (headers or {}):
        response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _from_http(e: HTTPException):
    status = e.code or 500
    message = None
    if status == 405:
        allowed = ", ".join(sorted(getattr(e, "valid_methods", None) or []))
        message = _("%(method)s is not allowed here; use %(allowed)s.", method=request.method, allowed=allowed or "—")
    elif status in (400, 413) and e.description and e.description != type(e).description:
        message = e.description  # a specific reason set by the code that raised it
    headers = {k: v for k, v in e.get_headers() if k.lower() != "content-type"}
    return error_json(status, message, headers=headers)


def install(bp: Blueprint) -> None:
    """Register the JSON handlers on an API blueprint (they win over the app's HTML ones)."""
    bp.register_error_handler(ApiError, lambda e: error_json(e.status, e.message, code=e.code, field=e.field,
                                                             headers=e.headers))
    bp.register_error_handler(ValidationError, lambda e: error_json(400, str(e), code="validation_error",
                                                                    field=e.field))
    bp.register_error_handler(NotFound, lambda e: error_json(404, str(e) or None))
    bp.register_error_handler(PermissionDenied, lambda e: error_json(403, str(e) or None))
    bp.register_error_handler(InvalidTransition, lambda e: error_json(409, str(e) or None, code="conflict"))
    bp.register_error_handler(SignatureRefused, lambda e: error_json(401, str(e), headers={
        "WWW-Authenticate": 'HMAC-SHA256 realm="helpdesk-chat"'}))
    bp.register_error_handler(KBError, lambda e: error_json(400, str(e) or None))
    for status in CODES:
        # By code, not only by HTTPException: Flask looks up the app's handler for a code
        # before a blueprint's class-based one.
        bp.register_error_handler(status, lambda e: _from_http(e) if isinstance(e, HTTPException)
                                  else error_json(500))


def is_api_path() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def install_unmatched(bp: Blueprint) -> None:
    """Wrap the app's 404/405 handlers: JSON in the API shape under /api/, as before elsewhere."""
    def wrap(state) -> None:
        app = state.app
        for status in (404, 405):
            exc = default_exceptions[status]
            previous = app.error_handler_spec[None][status].get(exc)

            def handler(e, previous=previous):
                if is_api_path() or previous is None:
                    return _from_http(e)
                return previous(e)
            app.register_error_handler(status, handler)
    bp.record_once(wrap)

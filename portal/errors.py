"""Helpful error pages (HTML for people, JSON for /api) and kb errors mapped to statuses."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from kb.attachments import human_size
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from portal.logs import current_request_id

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please log in to continue.",
    403: "You do not have access to this page.",
    404: "We could not find that page.",
    405: "That action is not allowed here.",
    409: "That change conflicts with the current state.",
    413: "The upload is too large.",
    429: "Too many attempts. Please wait a minute and try again.",
    500: "Something went wrong on our side. Nothing you entered was lost; please try again.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, message: str | None = None):
    text = message or _(MESSAGES.get(status, "Error"))
    # On a server error, the request id (portal.logs) lets support find the logged traceback.
    request_id = current_request_id() if status >= 500 else None
    if wants_json():
        body = {"status": status, "message": text}
        if request_id:
            body["request_id"] = request_id
        return jsonify({"error": body}), status
    return render_template("errors/error.html", status=status, message=text, request_id=request_id), status


def init_app(app: Flask) -> None:
    for status in MESSAGES:
        app.register_error_handler(status, lambda e, s=status: error_response(s, getattr(e, "description", None)
                                                                             if s in (400, 413) else None))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e):
        """Werkzeug's own text says nothing useful; tell the limits (a custom description wins)."""
        if e.description != RequestEntityTooLarge.description:
            return error_response(413, e.description)
        cfg = app.config
        return error_response(413, _(
            "The upload is too large (at most %(total)s per request), so nothing was saved. Attach at most "
            "%(count)d files of up to %(size)s each: go back, remove the largest files and send the form again.",
            total=human_size(cfg.get("MAX_CONTENT_LENGTH") or 0), count=cfg.get("ATTACHMENT_MAX_COUNT", 5),
            size=human_size(cfg.get("ATTACHMENT_MAX_BYTES", 0))))

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return error_response(400, _("Your form expired or was sent from another site. Reload the page and try again."))

    @app.errorhandler(NotFound)
    def kb_not_found(e):
        return error_response(404, str(e) or None)

    @app.errorhandler(PermissionDenied)
    def kb_denied(e):
        return error_response(403, str(e) or None)

    @app.errorhandler(ValidationError)
    def kb_invalid(e):
        return error_response(400, str(e))

    @app.errorhandler(InvalidTransition)
    def kb_transition(e):
        return error_response(409, str(e))

    @app.errorhandler(OperationalError)
    def database_busy(e):
        """SQLite's write lock past its timeout, or PostgreSQL restarting: a clear 503 (the
        transaction was rolled back). Nothing here may touch the database: the language comes
        from the browser, not the user's setting, and the page does not load the user."""
        from flask_babel import force_locale

        from portal.api.errors import RETRY_AFTER_SECONDS, database_busy_message, error_json
        from portal.i18n import LANGUAGES

        app.logger.error("database unavailable: %s", str(e).splitlines()[0][:300])
        lang = request.accept_languages.best_match(list(LANGUAGES), default=app.config["BABEL_DEFAULT_LOCALE"])
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        with force_locale(lang):
            if request.path.startswith("/api/"):
                return error_json(503, database_busy_message(), headers=headers)
            if wants_json():
                return jsonify({"error": {"status": 503, "message": database_busy_message(),
                                          "request_id": current_request_id()}}), 503, headers
            # Rendered without the context processors: Flask-Login's would load the user.
            page = app.jinja_env.get_template("errors/unavailable.html").render(
                message=database_busy_message(), lang=lang, request_id=current_request_id(), path=request.path)
            return page, 503, headers

"""Logging for every process (web, CLI, worker): text for people, JSON for a log pipeline.

Each request gets an id (a sane incoming ``X-Request-ID`` is kept, so a proxy's id follows
the request through; otherwise a new one), which goes on every record logged while the
request runs, back in the ``X-Request-ID`` response header, and on the 500 page so a user
can quote it. One ``portal.request`` line per request says what happened: method, path,
status, duration, user id, remote address. Never a body, a query string, a header value
or a token from the path: those can hold passwords and secrets.
"""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Path parameters whose values are secrets (the intake session token, ...): logged as "-".
_SECRET_PARTS = ("token", "secret", "key", "password", "signature")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s]%(request_tag)s %(message)s"
request_log = logging.getLogger("portal.request")


def request_id_from(header: str | None) -> str:
    """The caller's id if it is safe to echo and log, else a fresh one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    return None


class RequestIdFilter(logging.Filter):
    """Put the request id (or None outside a request) on every record the handler sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        record.request_tag = f" [{record.request_id}]" if record.request_id else ""
        return True


class JsonLogFormatter(JsonFormatter):
    """timestamp (UTC ISO), level, logger, message, request_id when in a request, pid (which
    worker process), then the record's extras."""

    def __init__(self):
        super().__init__(["levelname", "name", "message"], timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"})

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        log_data.pop("request_tag", None)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)
        log_data.setdefault("pid", record.process)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners and servers swap it)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def make_formatter(fmt: str) -> logging.Formatter:
    return JsonLogFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def make_handler(fmt: str) -> logging.Handler:
    handler = _StderrHandler()
    handler.setFormatter(make_formatter(fmt))
    handler.addFilter(RequestIdFilter())
    handler._helpdesk = True  # ours: replaced, never duplicated, when the app is built again
    return handler


def configure(fmt: str = "text", level: str = "INFO") -> None:
    """Install one stderr handler on the root logger (idempotent: a second app replaces it).

    The app owns the console: a plain console handler left by ``logging.basicConfig`` or by
    alembic's ``fileConfig`` (migrations/env.py, run by ``flask db upgrade`` and by tests that
    migrate in-process) would print every line twice, and the loggers that ``fileConfig``
    disabled would stay silent; both are undone here."""
    root = logging.getLogger()
    consoles = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    for old in [h for h in root.handlers if getattr(h, "_helpdesk", False)
                or (type(h) is logging.StreamHandler and h.stream in consoles)]:
        root.removeHandler(old)
    for existing in list(logging.root.manager.loggerDict.values()):
        if isinstance(existing, logging.Logger) and existing.disabled:
            existing.disabled = False
    root.addHandler(make_handler(fmt))
    root.setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin at every start


def _safe_path() -> str:
    path = request.path
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and value and any(part in name.lower() for part in _SECRET_PARTS):
            path = path.replace(value, "-")
    return path


def _user_id():
    user = g.get("_login_user")  # Flask-Login's per-request cache: never loads a user just to log
    return getattr(user, "id", None) if user is not None and getattr(user, "is_authenticated", False) else None


def init_app(app: Flask) -> None:
    from flask.logging import default_handler

    configure(app.config.get("LOG_FORMAT", "text"), app.config.get("LOG_LEVEL", "INFO"))
    app.logger.removeHandler(default_handler)  # the root handler formats Flask's own records too

    @app.before_request
    def _start_request():
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish_request(response):
        request_id = g.get("request_id") or request_id_from(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
        request_log.info("%s %s %s %sms", request.method, _safe_path(), response.status_code, duration, extra={
            "method": request.method, "path": _safe_path(), "status": response.status_code,
            "duration_ms": duration, "user_id": _user_id(), "remote_addr": request.remote_addr})
        return response


class GunicornAccessFormatter(JsonLogFormatter):
    """gunicorn's own access line as JSON (gunicorn.conf.py, HELPDESK_ACCESS_LOG): the fields
    come from gunicorn's atoms; never the query string, which can carry tokens."""

    def add_fields(self, log_data, record, message_dict):
        atoms = record.args if isinstance(record.args, dict) else {}
        record.message = f"{atoms.get('m', '-')} {atoms.get('U', '-')} {atoms.get('s', '-')}"
        super().add_fields(log_data, record, message_dict)
        micros = atoms.get("D")
        request_id = atoms.get("{x-request-id}o")
        log_data.update({
            "method": atoms.get("m"), "path": atoms.get("U"), "status": _int_or_none(atoms.get("s")),
            "bytes": atoms.get("B"), "duration_ms": round(micros / 1000, 1) if isinstance(micros, int) else None,
            "remote_addr": atoms.get("h"), "user_agent": atoms.get("a")})
        if request_id and request_id != "-":
            log_data["request_id"] = request_id


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

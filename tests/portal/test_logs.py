"""Structured logs (portal.logs): the request id, the request line, JSON output, what is never logged."""
from __future__ import annotations

import json
import logging
import re

import pytest

from portal import logs
from tests.conftest import PASSWORD, make_app


@pytest.fixture
def captured(capsys):
    """What the portal's handler writes (it looks sys.stderr up on every record, so capsys sees it)."""
    class Out:
        text = ""

        def getvalue(self):
            self.text += capsys.readouterr().err
            return self.text
    return Out()


def _records(out) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture
def json_app(app):
    """The test app with HELPDESK_LOG_FORMAT=json (configured as create_app does it)."""
    logs.configure("json", "INFO")
    yield app
    logs.configure("text", "INFO")


def test_request_id_is_generated_and_returned(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


@pytest.mark.parametrize("incoming,kept", [
    ("abc-123.DEF_9", True),
    ("x" * 64, True),
    ("x" * 65, False),
    ("bad id", False),
    ("<script>alert(1)</script>", False),
    ("", False),
])
def test_incoming_request_id_is_kept_only_if_sane(client, incoming, kept):
    got = client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert (got == incoming) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", got)


def test_json_format_is_chosen_by_the_setting(tmp_path):
    make_app(tmp_path, LOG_FORMAT="json")
    try:
        ours = [h for h in logging.getLogger().handlers if getattr(h, "_helpdesk", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.JsonLogFormatter)
    finally:
        logs.configure("text", "INFO")


def test_json_request_line(json_app, captured, make_user):
    user = make_user("agent")
    client = json_app.test_client()
    where = {"REMOTE_ADDR": "10.1.2.3"}  # the same for both: the session is bound to the address
    client.post("/login", data={"email": user.email, "password": PASSWORD}, environ_base=where)
    resp = client.get("/kb/", headers={"X-Request-ID": "req-42"}, environ_base=where)
    line = [r for r in _records(captured) if r.get("request_id") == "req-42" and r["logger"] == "portal.request"]
    assert len(line) == 1, captured.getvalue()
    rec = line[0]
    assert rec["level"] == "INFO" and rec["method"] == "GET" and rec["path"] == "/kb/"
    assert rec["status"] == resp.status_code == 200
    assert rec["user_id"] == user.id and rec["remote_addr"] == "10.1.2.3"
    assert isinstance(rec["duration_ms"], float) and rec["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", rec["timestamp"])


def test_every_record_in_a_request_carries_its_id(json_app, captured):
    @json_app.get("/_log_something")
    def _log_something():
        logging.getLogger("kb.something").warning("deep inside %s", "a service")
        return "ok"

    json_app.test_client().get("/_log_something", headers={"X-Request-ID": "trace-me"})
    inner = [r for r in _records(captured) if r["logger"] == "kb.something"]
    assert inner == [{**inner[0], "message": "deep inside a service", "request_id": "trace-me", "level": "WARNING"}]


def test_records_outside_requests_are_json_without_an_id(json_app, captured):
    logging.getLogger("portal.cli.test").info("a CLI or worker line")
    rec = [r for r in _records(captured) if r["logger"] == "portal.cli.test"][0]
    assert rec["message"] == "a CLI or worker line" and "request_id" not in rec


def test_secrets_and_bodies_are_not_logged(json_app, captured, make_user):
    user = make_user("requester")
    client = json_app.test_client()
    client.post("/login?next=/kb/&token=query-secret", data={"email": user.email, "password": "Secret-Passw0rd!"})
    client.get("/intake/tok3n-s3cret-value/open/1")
    text = captured.getvalue()
    assert "Secret-Passw0rd!" not in text and "query-secret" not in text
    assert "tok3n-s3cret-value" not in text and user.email not in text
    paths = [r["path"] for r in _records(captured) if r["logger"] == "portal.request"]
    assert "/login" in paths and "/intake/-/open/1" in paths


def test_the_500_page_shows_the_request_id(json_app, captured):
    json_app.config["PROPAGATE_EXCEPTIONS"] = False

    @json_app.get("/_boom")
    def _boom():
        raise RuntimeError("boom")

    client = json_app.test_client()
    resp = client.get("/_boom", headers={"X-Request-ID": "oops-1"})
    assert resp.status_code == 500 and resp.headers["X-Request-ID"] == "oops-1"
    assert "tell support this reference: oops-1" in resp.get_data(as_text=True)
    traceback = [r for r in _records(captured) if r["level"] == "ERROR"]
    assert traceback and traceback[0]["request_id"] == "oops-1" and "RuntimeError: boom" in traceback[0]["exc_info"]
    api = client.get("/_boom", headers={"Accept": "application/json", "X-Request-ID": "oops-2"})
    assert api.get_json()["error"]["request_id"] == "oops-2"
    zh = client.get("/_boom", headers={"X-Request-ID": "oops-3", "Accept-Language": "zh"})
    assert "请把这个编号告诉支持人员：oops-3" in zh.get_data(as_text=True)


def test_text_format_is_readable(app, client, captured):
    client.get("/healthz", headers={"X-Request-ID": "plain-1"})
    line = [ln for ln in captured.getvalue().splitlines() if "portal.request" in ln][-1]
    assert re.search(r" INFO \[portal\.request\] \[plain-1\] GET /healthz 200 [\d.]+ms$", line), line


def test_configure_twice_keeps_one_handler():
    logs.configure("json", "INFO")
    logs.configure("text", "INFO")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_helpdesk", False)]
    assert len(ours) == 1 and not isinstance(ours[0].formatter, logs.JsonLogFormatter)


def test_proxy_fix_is_off_by_default(client):
    from flask import request

    app = client.application

    @app.get("/_whoami")
    def _whoami():
        return f"{request.remote_addr} {request.scheme}"

    resp = client.get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
                      environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert resp.get_data(as_text=True) == "10.0.0.1 http"


def test_proxy_fix_trusts_the_configured_number_of_proxies(tmp_path):
    from flask import request

    app = make_app(tmp_path, PROXY_FIX=1)

    @app.get("/_whoami")
    def _whoami():
        return f"{request.remote_addr} {request.scheme}"

    resp = app.test_client().get("/_whoami", environ_base={"REMOTE_ADDR": "10.0.0.1"}, headers={
        "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"})
    assert resp.get_data(as_text=True) == "203.0.113.9 https"  # only the last hop, set by our proxy


def test_proxy_fix_setting(monkeypatch, tmp_path):
    from portal.config import ConfigError, Settings, resolve

    assert resolve(Settings.from_env({}), str(tmp_path))["PROXY_FIX"] == 0
    assert resolve(Settings.from_env({"HELPDESK_PROXY_FIX": "2"}), str(tmp_path))["PROXY_FIX"] == 2
    with pytest.raises(ConfigError, match="HELPDESK_PROXY_FIX"):
        Settings.from_env({"HELPDESK_PROXY_FIX": "-1"})


def test_logging_survives_alembics_file_config():
    """migrations/env.py runs logging.config.fileConfig (disabling every existing logger and
    adding its own console handler); the next configure() gives the app its logging back."""
    import logging.config
    from pathlib import Path

    request_logger = logging.getLogger("portal.request")
    logging.config.fileConfig(Path(__file__).resolve().parents[2] / "migrations" / "alembic.ini")
    assert request_logger.disabled
    logs.configure("text", "INFO")
    assert not request_logger.disabled
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)
                and not h.__class__.__module__.startswith("_pytest")]
    assert len(consoles) == 1 and getattr(consoles[0], "_helpdesk", False)

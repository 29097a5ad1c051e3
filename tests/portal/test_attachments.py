"""Attachments on the web: upload keeps the good files and says why the others were refused,
downloads only for people who may see them and with headers that keep an uploaded page or
SVG from running in the portal's origin, and a too-large request explains the limits."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flask import render_template_string
from flask_login import login_user

from kb.ticket_events import ATTACHMENT, list_events
from kb.ticket_records import TicketAttachment
from kb.tickets import Ticket
from portal.tickets.attachments import upload_files
from tests.conftest import csrf_token_from

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)
PDF = b"%PDF-1.7\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"/>'


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"), "agent": make_user("agent")}


@pytest.fixture
def ticket(session, people):
    ticket = Ticket(title="Printer jam", description="Third floor.", requester_id=people["requester"].id,
                    status="new", created_at=T0, updated_at=T0)
    session.add(ticket)
    session.commit()
    return ticket


def upload(client, ticket, files, **form):
    data = {"files": [(io.BytesIO(content), name) for name, content in files], **form}
    return client.post(f"/tickets/{ticket.id}/attachments", data=data, content_type="multipart/form-data")


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as s:
        return list(s.get("_flashes", []))


def url(ticket, row) -> str:
    return f"/tickets/{ticket.id}/attachments/{row.id}"


def test_upload_keeps_good_files_and_explains_the_rest(app, client, login, people, ticket, session):
    login(people["requester"])
    resp = upload(client, ticket, [("x.txt", PNG), ("logo.png", SVG), ("empty.log", b"")])
    assert resp.status_code == 302 and resp.location.endswith(f"/tickets/{ticket.id}#attachments")
    assert flashes(client) == [
        ("success", "1 file added."),
        ("error", "“logo.png” is not an allowed file type (SVG images can contain scripts); allowed: PNG, JPEG, "
                  "GIF or WebP images, PDF, UTF-8 text (.txt, .log, .csv, .json, .eml), Word, Excel or PowerPoint "
                  "(.docx, .xlsx, .pptx) and ZIP."),
        ("error", "“empty.log” was not added: the file is empty.")]
    [row] = session.query(TicketAttachment).all()
    assert (row.filename, row.content_type, row.uploader_id) == ("x.txt", "image/png", people["requester"].id)
    path = Path(app.config["ATTACHMENTS_PATH"]) / row.stored_name[:2] / row.stored_name
    assert path.read_bytes() == PNG and "x.txt" not in str(path)
    assert not path.resolve().is_relative_to(Path(app.static_folder).resolve())
    assert not path.resolve().is_relative_to(Path(app.root_path).resolve())
    assert [e.payload["attachment_id"] for e in list_events(session, ticket) if e.kind == ATTACHMENT] == [row.id]


def test_upload_limits_per_batch(app, client, login, people, ticket, session):
    app.config.update(ATTACHMENT_MAX_COUNT=2, ATTACHMENT_MAX_BYTES=100)
    login(people["requester"])
    upload(client, ticket, [("a.log", b"a" * 101), ("b.log", b"b"), ("c.log", b"c"), ("d.log", b"d")])
    assert flashes(client) == [("success", "2 files added."),  # a refused file takes no place in the batch
                               ("error", "“a.log” was not added: it is larger than 100 bytes."),
                               ("error", "“d.log” was not added: at most 2 files can be added at once.")]
    assert sorted(r.filename for r in session.query(TicketAttachment)) == ["b.log", "c.log"]


def test_upload_without_files_and_by_outsiders(client, login, people, ticket, session):
    login(people["requester"])
    assert upload(client, ticket, []).status_code == 302
    assert flashes(client) == [("error", "Choose at least one file to attach.")]
    login(people["other"])
    assert upload(client, ticket, [("a.png", PNG)]).status_code == 404
    assert session.query(TicketAttachment).count() == 0


def test_only_staff_add_internal_files(client, login, people, ticket, session):
    login(people["requester"])
    upload(client, ticket, [("a.png", PNG)], internal="1")
    [(kind, text)] = flashes(client)
    assert kind == "error" and text.startswith("The files were not added: Only support staff")
    assert session.query(TicketAttachment).count() == 0
    login(people["agent"])
    upload(client, ticket, [("server.log", b"secret")], internal="1", purpose="evidence")
    row = session.query(TicketAttachment).one()
    assert row.internal and row.purpose == "evidence"


def test_downloads_only_for_people_who_may_see_them(client, login, people, ticket, session):
    login(people["requester"])
    upload(client, ticket, [("a.pdf", PDF)])
    login(people["agent"])
    upload(client, ticket, [("note.log", b"internal detail")], internal="1")
    public, secret = session.query(TicketAttachment).order_by(TicketAttachment.id).all()
    assert client.get(url(ticket, secret)).status_code == 200
    login(people["requester"])
    assert client.get(url(ticket, public)).get_data() == PDF
    missing = client.get(f"/tickets/{ticket.id}/attachments/9999")
    hidden = client.get(url(ticket, secret))
    assert hidden.status_code == missing.status_code == 404
    assert b"We could not find that attachment." in hidden.get_data() and b"internal detail" not in hidden.get_data()
    assert client.get(f"/tickets/{ticket.id + 1}/attachments/{public.id}").status_code == 404
    login(people["other"])
    assert client.get(url(ticket, public)).status_code == 404
    client.post("/logout")
    assert client.get(url(ticket, public)).status_code == 302  # to the login page


@pytest.mark.parametrize("name, content, mimetype, disposition", [
    ("report.pdf", PDF, "application/pdf", "attachment"),
    ("page.html.txt", b"plain words <b>not markup</b>", "text/plain; charset=utf-8", "attachment"),
    ("shot.png", PNG, "image/png", "inline"),
])
def test_download_headers(client, login, people, ticket, session, name, content, mimetype, disposition):
    login(people["requester"])
    upload(client, ticket, [(name, content)])
    row = session.query(TicketAttachment).one()
    resp = client.get(url(ticket, row))
    assert resp.status_code == 200 and resp.get_data() == content
    h = resp.headers
    assert h["Content-Type"] == mimetype
    assert h["Content-Disposition"] == f"{disposition}; filename={name}"
    assert h["X-Content-Type-Options"] == "nosniff"
    csp = {d.strip() for d in h["Content-Security-Policy"].split(";")}
    assert {"sandbox", "default-src 'none'"} <= csp and not any("script" in d for d in csp)
    assert h["Cache-Control"] == "private, no-store"


def test_non_ascii_names_download_safely(client, login, people, ticket, session):
    login(people["requester"])
    upload(client, ticket, [("屏幕截图.png", PNG)])
    row = session.query(TicketAttachment).one()
    assert "filename*=UTF-8''%E5%B1%8F" in client.get(url(ticket, row)).headers["Content-Disposition"]


def test_too_large_request_tells_the_limits(app, client, login, people, ticket, session):
    app.config.update(MAX_CONTENT_LENGTH=4096, ATTACHMENT_MAX_BYTES=1024, ATTACHMENT_MAX_COUNT=3)
    login(people["requester"])
    resp = upload(client, ticket, [("huge.log", b"x" * 10_000)])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 413
    assert "at most 4 KB per request" in html and "at most 3 files of up to 1 KB each" in html
    assert session.query(TicketAttachment).count() == 0


def test_default_limits_fit_a_full_batch(app):
    cfg = app.config
    assert cfg["ATTACHMENT_MAX_BYTES"] == 10 * 1024 * 1024 and cfg["ATTACHMENT_MAX_COUNT"] == 5
    assert cfg["MAX_CONTENT_LENGTH"] >= cfg["ATTACHMENT_MAX_BYTES"] * cfg["ATTACHMENT_MAX_COUNT"]
    assert Path(cfg["ATTACHMENTS_PATH"]) == Path(cfg["INSTANCE_PATH"]) / "attachments"


def test_csrf_is_required(csrf_app, client, login, people, ticket, session):
    login_page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": people["requester"].email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(login_page)})
    assert upload(client, ticket, [("a.png", PNG)]).status_code == 400
    assert session.query(TicketAttachment).count() == 0


def test_upload_files_helper_never_raises_for_the_files(app, people, ticket, session):
    from werkzeug.datastructures import FileStorage

    files = [FileStorage(io.BytesIO(PNG), "a.png"), FileStorage(io.BytesIO(b""), ""),
             FileStorage(io.BytesIO(SVG), "b.svg")]
    with app.test_request_context("/"):
        login_user(people["requester"])
        assert upload_files(ticket, files, internal=True) == [
            "The files were not added: Only support staff can add internal files or diagnosis evidence."]
        for f in files:
            f.stream.seek(0)
        [error] = upload_files(ticket, files)
    assert error.startswith("“b.svg” is not an allowed file type")
    assert [r.filename for r in session.query(TicketAttachment)] == ["a.png"]


PAGE = '{% include "tickets/_attachments.html" %}'


def test_partials_list_files_and_offer_the_upload(app, client, login, people, ticket, session):
    login(people["requester"])
    upload(client, ticket, [("<i>shot<i>.png", PNG)])
    login(people["agent"])
    upload(client, ticket, [("trace.log", b"x" * 2048)], internal="1")
    public, secret = session.query(TicketAttachment).order_by(TicketAttachment.id).all()
    with app.test_request_context("/"):
        login_user(people["agent"])
        staff = render_template_string(PAGE, ticket=ticket)
    with app.test_request_context("/"):
        login_user(people["requester"])
        mine = render_template_string(PAGE, ticket=ticket)
    assert "trace.log" in staff and "2 KB" in staff and 'class="badge internal"' in staff
    assert f'href="/tickets/{ticket.id}/attachments/{secret.id}"' in staff and 'name="internal"' in staff
    assert "&lt;i&gt;shot&lt;i&gt;.png" in mine and "<i>shot" not in mine
    assert "trace.log" not in mine and 'name="internal"' not in mine
    assert people["requester"].name in mine and f"/tickets/{ticket.id}/attachments/{public.id}" in mine
    for html in (staff, mine):
        assert 'enctype="multipart/form-data"' in html and 'type="file"' in html and "multiple" in html
        assert 'data-max-bytes="10485760"' in html and "Up to 5 files at once, at most 10 MB each" in html
        assert "js/attachments.js" in html


def test_upload_field_follows_a_wtforms_field(app, people):
    from flask_wtf import FlaskForm
    from wtforms import MultipleFileField

    class Form(FlaskForm):
        files = MultipleFileField("Screenshots or logs")

    with app.test_request_context("/"):
        login_user(people["requester"])
        html = render_template_string('{% with upload_field=form.files %}{% include "tickets/_upload_field.html" %}'
                                      '{% endwith %}', form=Form())
    assert 'id="files" name="files" multiple' in html and "Screenshots or logs" in html
    assert 'name="internal"' not in html  # only the ticket's own upload form offers it

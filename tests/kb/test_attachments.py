"""Ticket attachments in kb: the type comes from the content, limits refuse one file and keep the
rest, files live under generated names, internal files never reach the requester, and no file
outlives a transaction that was not committed."""
from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import kb.attachments as att
from kb.attachments import (Rejection, clean_filename, human_size, open_attachment, remove_orphans,
                            save_attachments, visible_attachments)
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.ticket_events import ATTACHMENT, list_events, visible_events
from kb.ticket_messages import add_reply
from kb.ticket_records import TicketAttachment
from kb.tickets import Ticket

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
GIF = b"GIF89a" + bytes(40)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40)
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


def zipped(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in names:
            z.writestr(name, "<x/>")
    return buf.getvalue()


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"), "agent": make_user("agent"),
            "trainer": make_user("trainer"), "lead": make_user("lead")}


def make_ticket(session, requester) -> Ticket:
    """A bare row: these tests are about files, not registration (kb.tickets.create_ticket)."""
    ticket = Ticket(title="Printer jam", description="Third floor.", requester_id=requester.id, status="new",
                    created_at=T0, updated_at=T0)
    session.add(ticket)
    session.flush()
    return ticket


@pytest.fixture
def ticket(session, people):
    return make_ticket(session, people["requester"])


@pytest.fixture
def store(tmp_path):
    return tmp_path / "attachments"


def save(session, actor, ticket, files, store, **kw):
    kw = {"max_bytes": 1000, "max_count": 5, "now": T0} | kw
    return save_attachments(session, actor, ticket, [(n, io.BytesIO(b)) for n, b in files], storage_dir=store, **kw)


def stored_files(store: Path) -> list[Path]:
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []


@pytest.mark.parametrize("name, content, expected", [
    ("x.txt", PNG, "image/png"),           # a PNG named .txt is a PNG
    ("photo.png", JPEG, "image/jpeg"),
    ("anim", GIF, "image/gif"),
    ("s.webp", WEBP, "image/webp"),
    ("report.doc", PDF, "application/pdf"),
    ("app.log", "2025-03-03 ERROR 数据库 timeout\n".encode(), "text/plain"),
    ("bom.csv", b"\xef\xbb\xbfa,b\n1,2\n", "text/plain"),
    ("data.json", b'{"ok": true}', "text/plain"),
    ("config.xml", b"<?xml version='1.0'?><config><a>1</a></config>", "text/plain"),
    ("letter.docx", zipped("[Content_Types].xml", "word/document.xml"), att.DOCX),
    ("sheet.bin", zipped("[Content_Types].xml", "xl/workbook.xml"), att.XLSX),
    ("deck.pptx", zipped("[Content_Types].xml", "ppt/presentation.xml"), att.PPTX),
    ("logs.zip", zipped("a.log", "b.log"), "application/zip"),
])
def test_allowed_types_are_recognised_by_content(session, people, ticket, store, name, content, expected):
    [row], rejected = save(session, people["requester"], ticket, [(name, content)], store)
    assert rejected == []
    assert (row.filename, row.content_type, row.size) == (name, expected, len(content))
    path = store / row.stored_name[:2] / row.stored_name
    assert path.read_bytes() == content
    assert stored_files(store) == [path]  # no temp file left behind


@pytest.mark.parametrize("name, content, why", [
    ("cat.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "html"),
    ("cat.png", b"  \n<html><body>hi</body></html>", "html"),
    ("note.txt", b"<script>alert(document.cookie)</script>", "html"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "svg"),
    ("logo.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', "svg"),
    ("page.xml", b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"></html>', "html"),
    ("setup.pdf", b"MZ\x90\x00" + bytes(60), "program"),
    ("tool", b"\x7fELF\x02\x01\x01" + bytes(60), "program"),
    ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(60), "legacy_office"),
    ("logs.rar", b"Rar!\x1a\x07\x00" + bytes(20), "archive"),
    ("win.log", "hello".encode("utf-16"), "utf16"),
    ("gbk.txt", "打印机卡纸".encode("gbk"), "unknown"),
    ("blob.txt", b"abc\x00def", "unknown"),
    ("broken.docx", b"PK\x03\x04" + b"not really a zip", "damaged_zip"),
])
def test_other_content_is_refused_with_the_reason(session, people, ticket, store, name, content, why):
    saved, [rejection] = save(session, people["requester"], ticket, [(name, content)], store)
    assert saved == [] and rejection == Rejection(name, "type", {"why": why})
    text = str(rejection)
    assert text.startswith(f"'{name}' is not an allowed file type (") and att.TYPE_REASONS[why] in text
    assert "allowed: PNG" in text
    assert stored_files(store) == [] and session.query(TicketAttachment).count() == 0
    assert list_events(session, ticket) == []


def test_one_bad_file_does_not_lose_the_others(session, people, ticket, store):
    files = [("ok.png", PNG), ("evil.svg", b"<svg onload=alert(1)>"), ("empty.txt", b""),
             ("big.log", b"x" * 1001), ("fine.log", b"x" * 1000)]
    saved, rejected = save(session, people["requester"], ticket, files, store, max_bytes=1000)
    assert [r.filename for r in saved] == ["ok.png", "fine.log"]
    assert [(r.filename, r.reason) for r in rejected] == [("evil.svg", "type"), ("empty.txt", "empty"),
                                                          ("big.log", "too_large")]
    assert str(rejected[1]) == "'empty.txt' was not added: the file is empty."
    assert str(rejected[2]) == "'big.log' was not added: it is larger than 1000 bytes."
    assert len(stored_files(store)) == 2


def test_a_huge_stream_is_not_read_past_the_limit(session, people, ticket, store):
    class Endless(io.RawIOBase):
        served = 0

        def read(self, n=-1):
            assert n is not None and 0 < n <= 64 * 1024, "must read in bounded chunks"
            self.served += n
            return b"a" * n

    stream = Endless()
    saved, [rejection] = save_attachments(session, people["requester"], ticket, [("huge.log", stream)],
                                          storage_dir=store, max_bytes=100_000, max_count=5)
    assert saved == [] and rejection.reason == "too_large" and stream.served == 100_001
    assert stored_files(store) == []


def test_count_limits_per_upload_and_per_ticket(session, people, ticket, store):
    files = [("bad.svg", b"<svg/>")] + [(f"shot{i}.png", PNG) for i in range(4)]
    saved, rejected = save(session, people["requester"], ticket, files, store, max_count=3)
    assert [r.filename for r in saved] == ["shot0.png", "shot1.png", "shot2.png"]  # a refused file takes no place
    assert [(r.filename, r.reason) for r in rejected] == [("bad.svg", "type"), ("shot3.png", "too_many")]
    assert str(rejected[1]) == "'shot3.png' was not added: at most 3 files can be added at once."
    saved, rejected = save(session, people["requester"], ticket, files[1:3], store, max_per_ticket=4)
    assert [r.filename for r in saved] == ["shot0.png"]
    assert str(rejected[0]) == "'shot1.png' was not added: a ticket can have at most 4 files."


def test_no_file_chosen_is_not_an_error(session, people, ticket, store):
    assert save(session, people["requester"], ticket, [("", b"")], store) == ([], [])


def test_storage_failure_is_a_message_not_a_crash(session, people, ticket, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    saved, [rejection] = save(session, people["requester"], ticket, [("a.png", PNG)], blocker)
    assert saved == [] and rejection.reason == "storage" and "could not be stored" in str(rejection)


def test_event_per_file_and_internal_files_hidden_from_the_requester(session, people, ticket, store):
    [public], _ = save(session, people["requester"], ticket, [("screen.png", PNG)], store)
    [secret], _ = save(session, people["agent"], ticket, [("server.log", b"token=abc")], store, internal=True)
    events = [e for e in list_events(session, ticket) if e.kind == ATTACHMENT]
    assert [e.payload for e in events] == [
        {"attachment_id": public.id, "filename": "screen.png", "internal": False},
        {"attachment_id": secret.id, "filename": "server.log", "internal": True}]
    assert [e.actor_id for e in events] == [people["requester"].id, people["agent"].id]
    assert [e.payload["attachment_id"] for e in visible_events(session, people["requester"], ticket)
            if e.kind == ATTACHMENT] == [public.id]
    assert visible_attachments(session, people["requester"], ticket) == [public]
    assert visible_attachments(session, people["agent"], ticket) == [public, secret]
    with pytest.raises(NotFound):
        visible_attachments(session, people["other"], ticket)


def test_files_on_an_internal_note_are_internal(session, people, ticket, store):
    note = add_reply(session, people["agent"], ticket, "Checked the spooler.", internal=True)
    [row], _ = save(session, people["agent"], ticket, [("spool.log", b"ok")], store, message=note)
    assert row.internal and row.message_id == note.id


def test_who_may_add_what(session, people, ticket, store):
    files = [("a.png", PNG)]
    with pytest.raises(NotFound):
        save(session, people["other"], ticket, files, store)
    with pytest.raises(PermissionDenied):
        save(session, people["requester"], ticket, files, store, internal=True)
    with pytest.raises(PermissionDenied):
        save(session, people["requester"], ticket, files, store, purpose="evidence")
    with pytest.raises(PermissionDenied):
        save(session, people["trainer"], ticket, files, store)  # reads tickets, does not work them
    with pytest.raises(ValidationError):
        save(session, people["agent"], ticket, files, store, purpose="malware")
    [row], _ = save(session, people["agent"], ticket, files, store, purpose="evidence")
    assert row.purpose == "evidence" and not row.internal
    ticket.status = "closed"
    with pytest.raises(InvalidTransition):
        save(session, people["requester"], ticket, files, store)
    [note_file], _ = save(session, people["agent"], ticket, files, store, internal=True)
    assert note_file.internal
    assert len(stored_files(store)) == 2


def test_open_attachment_checks_who_asks(session, people, ticket, store):
    [public], _ = save(session, people["requester"], ticket, [("a.pdf", PDF)], store)
    [secret], _ = save(session, people["agent"], ticket, [("b.pdf", PDF)], store, internal=True)
    row, path = open_attachment(session, people["requester"], public.id, store, ticket_id=ticket.id)
    assert row is public and path.read_bytes() == PDF
    assert open_attachment(session, people["lead"], secret.id, store)[0] is secret
    for who, att_id, tid in [("other", public.id, None), ("requester", secret.id, ticket.id),
                             ("requester", public.id, ticket.id + 1), ("requester", 999, None), (None, public.id, None)]:
        with pytest.raises(NotFound, match="^We could not find that attachment.$"):
            open_attachment(session, people.get(who), att_id, store, ticket_id=tid)
    path.unlink()
    with pytest.raises(NotFound, match="missing from storage"):
        open_attachment(session, people["requester"], public.id, store)


def test_files_land_under_generated_names(session, people, ticket, store):
    [a], _ = save(session, people["requester"], ticket, [("../../etc/passwd.png", PNG)], store)
    [b], _ = save(session, people["requester"], ticket, [("../../etc/passwd.png", PNG)], store)
    assert a.filename == "passwd.png" and a.stored_name != b.stored_name
    for row in (a, b):
        assert len(row.stored_name) == 32 and int(row.stored_name, 16) >= 0
        assert (store / row.stored_name[:2] / row.stored_name).is_file()
    assert a.sha256 == b.sha256 and len(a.sha256) == 64


def test_rollback_and_failed_inserts_leave_no_file(session, people, ticket, store, monkeypatch):
    save(session, people["requester"], ticket, [("kept.png", PNG)], store)
    session.commit()
    assert len(stored_files(store)) == 1
    save(session, people["requester"], ticket, [("dropped.png", PNG)], store)
    assert len(stored_files(store)) == 2
    session.rollback()
    assert len(stored_files(store)) == 1

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")
    monkeypatch.setattr(att, "record_event", broken)
    with pytest.raises(RuntimeError):
        save(session, people["requester"], ticket, [("lost.png", PNG)], store)
    session.rollback()
    assert [p.name for p in stored_files(store)] == [session.query(TicketAttachment).one().stored_name]


def test_remove_orphans_keeps_known_and_recent_files(session, people, ticket, store):
    [row], _ = save(session, people["requester"], ticket, [("kept.png", PNG)], store)
    session.commit()
    old = (datetime.now(timezone.utc) - timedelta(days=2)).timestamp()
    orphan = store / "ab" / ("ab" + "0" * 30)
    part = store / "cd" / ".cdef.part"
    recent = store / "ef" / ("ef" + "1" * 30)  # an upload whose transaction may still be open
    for p in (orphan, part, recent):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    for p in (orphan, part, store / row.stored_name[:2] / row.stored_name):
        os.utime(p, (old, old))
    removed = remove_orphans(session, store)
    assert sorted(removed) == sorted([orphan, part])
    assert sorted(stored_files(store)) == sorted([recent, store / row.stored_name[:2] / row.stored_name])


@pytest.mark.parametrize("raw, expected", [
    ("C:\\Users\\me\\Desktop\\error.png", "error.png"),
    ("dir/sub/log.txt", "log.txt"),
    ("inv\u202eoice.exe\x00\n.pdf", "invoice.exe.pdf"),
    ("  ..hidden. ", "hidden"),
    ("", "attachment"),
    ("../..", "attachment"),
    ("屏幕截图 2025.png", "屏幕截图 2025.png"),
])
def test_clean_filename(raw, expected):
    assert clean_filename(raw) == expected


def test_long_names_keep_their_extension():
    name = clean_filename("a" * 300 + ".xlsx")
    assert len(name) == 255 and name.endswith(".xlsx")


def test_human_size():
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 10 * 1024 * 1024)] == [
        "0 bytes", "1023 bytes", "1 KB", "1.5 KB", "10 MB"]

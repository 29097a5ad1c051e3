"""The outbox for admins: the page (filter, last error, retry button) and ``flask mail``."""
from __future__ import annotations

import pytest

from kb.channel_models import OutboundEmail
from kb.notifications import notify
from tests.conftest import csrf_token_from


@pytest.fixture
def mails(session, make_user):
    """One mail sent, one failed (with its error), one waiting; each text is its subject."""
    alice = make_user()
    for text in ("sent one", "failed one", "waiting one"):
        notify(session, alice.id, "heads_up", text)
    sent, failed, waiting = session.query(OutboundEmail).order_by(OutboundEmail.id).all()
    sent.status = "sent"
    failed.status, failed.attempts, failed.last_error = "failed", 8, "SMTPDataError: 554 <weird> rejected"
    session.commit()
    return {"sent": sent, "failed": failed, "waiting": waiting, "alice": alice}


def reload(session, mail):
    session.rollback()
    return session.get(OutboundEmail, mail.id)


def test_outbox_page_is_for_admins_only(client, login, make_user, mails):
    assert client.get("/admin/outbox/").status_code == 404
    assert client.post(f"/admin/outbox/{mails['failed'].id}/retry").status_code == 404
    login(make_user("lead"))
    assert client.get("/admin/outbox/").status_code == 403
    assert client.post(f"/admin/outbox/{mails['failed'].id}/retry").status_code == 403
    assert client.post("/admin/outbox/retry-failed").status_code == 403


def test_admin_sees_filters_and_retries(client, login, session, make_user, mails):
    login(make_user("admin"))
    page = client.get("/admin/outbox/").get_data(as_text=True)
    assert all(m.subject in page for m in (mails["sent"], mails["failed"], mails["waiting"]))
    assert "554 &lt;weird&gt; rejected" in page  # the error is shown, escaped
    assert "No mail server is configured" in page
    failed_only = client.get("/admin/outbox/?status=failed").get_data(as_text=True)
    assert failed_only.count("<tr>") == 2  # the header and the failed mail
    resp = client.post(f"/admin/outbox/{mails['failed'].id}/retry", data={"status": "failed"})
    assert resp.status_code == 302 and "status=failed" in resp.headers["Location"]
    row = reload(session, mails["failed"])
    assert (row.status, row.attempts) == ("pending", 0)
    assert client.post(f"/admin/outbox/{mails['sent'].id}/retry").status_code == 400  # already sent
    assert client.post(f"/admin/outbox/{mails['waiting'].id}/retry").status_code == 400  # still queued
    assert reload(session, mails["sent"]).status == "sent"


def test_pages_of_the_outbox(client, login, session, make_user, mails):
    for i in range(30):
        notify(session, mails["alice"].id, "reply", f"bulk {i}")
    session.commit()
    login(make_user("admin"))
    first = client.get("/admin/outbox/?status=pending").get_data(as_text=True)
    assert "Page 1 of 2" in first and "status=pending" in first
    second = client.get("/admin/outbox/?status=pending&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and second.count("<tr>") == 1 + 31 - 25


def test_retry_is_csrf_protected(csrf_app, session, make_user, mails):
    admin = make_user("admin")
    client = csrf_app.test_client()
    client.post("/login", data={"email": admin.email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True))})
    assert client.post("/admin/outbox/retry-failed").status_code == 400
    assert reload(session, mails["failed"]).status == "failed"
    token = csrf_token_from(client.get("/admin/outbox/").get_data(as_text=True))
    assert client.post("/admin/outbox/retry-failed", data={"csrf_token": token}).status_code == 302
    assert reload(session, mails["failed"]).status == "pending"


def test_cli_lists_retries_and_sends(app, session, smtp_server, mails):
    def invoke(*args):
        session.rollback()  # the command has its own session; SQLite locks at BEGIN
        return app.test_cli_runner().invoke(args=["mail", *args])
    listing = invoke("outbox")
    assert listing.exit_code == 0
    assert "failed" in listing.output and "554 <weird> rejected" in listing.output
    assert "waiting one" in listing.output and "sent one" not in listing.output  # pending and failed only
    app.config["SMTP_HOST"] = ""
    nothing = invoke("send")
    assert nothing.exit_code != 0 and "SMTP_HOST is not set: 1 mails wait" in nothing.output
    assert invoke("retry").exit_code != 0
    missing = invoke("retry", "99999")
    assert missing.exit_code != 0 and "No mail with id 99999" in missing.output
    assert "1 mails will be sent again" in invoke("retry", "--all").output
    smtp_server.configure(app)
    sent = invoke("send")
    assert sent.exit_code == 0 and "2 sent" in sent.output
    assert sorted(m.text().strip() for m in smtp_server.messages) == ["failed one", "waiting one"]
    assert reload(session, mails["failed"]).status == "sent"

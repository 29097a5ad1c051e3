"""Notification preferences: an opt-out of one channel stops that channel only, and the
settings page saves the table of kinds x channels (keeping the kinds it does not show)."""
from __future__ import annotations

import re

import pytest

from kb import ticket_work as work
from kb.channel_models import NOTIFICATION_CHANNELS, OutboundEmail
from kb.notifications import KINDS, opted_out, set_preferences
from kb.ticket_records import Notification
from kb.tickets import create_ticket
from tests.channels.smtp_fixture import deliver
from tests.conftest import csrf_token_from

EVERYTHING = {(k, c) for k in KINDS for c in NOTIFICATION_CHANNELS}


@pytest.fixture
def people(make_user):
    return {"alice": make_user(), "agent": make_user("agent")}


@pytest.fixture
def ticket(session, people):
    t = create_ticket(session, people["alice"], title="Badge does not open the door", description="Door B2")
    session.commit()
    return t


def boxes(page: str) -> dict[str, bool]:
    """Checkbox name -> checked, as the settings page shows them."""
    return {m.group(1): bool(m.group(2))
            for m in re.finditer(r'<input type="checkbox" id="[^"]+" name="([^"]+)"( checked)?', page)}


def told(session, user, kind):
    """(in-app notifications, mails) of ``kind`` for ``user``."""
    return (session.query(Notification).filter_by(user_id=user.id, kind=kind).count(),
            session.query(OutboundEmail).filter_by(user_id=user.id, kind=kind).count())


@pytest.mark.parametrize("off,expected", [(("reply", "email"), (1, 0)), (("reply", "in_app"), (0, 1)),
                                          (None, (1, 1))])
def test_an_opt_out_stops_one_channel_only(app, session, smtp_server, people, ticket, off, expected):
    alice = people["alice"]
    set_preferences(session, alice, EVERYTHING - {off})
    session.commit()
    work.reply(session, people["agent"], ticket, "Try the side door for now.")
    session.commit()
    assert told(session, alice, "reply") == expected
    smtp_server.configure(app)
    deliver(app)
    replies = [m for m in smtp_server.messages if "Try the side door" in m.text()]
    assert len(replies) == expected[1]


def test_the_settings_page_saves_the_table(client, login, session, people):
    alice = people["alice"]
    set_preferences(session, alice, EVERYTHING - {("assigned", "email")})  # a staff kind she does not see
    session.commit()
    login(alice)
    shown = boxes(client.get("/notifications/settings").get_data(as_text=True))
    assert shown["reply__email"] and shown["reply__in_app"]
    assert "assigned__email" not in shown  # requesters see only the kinds they can receive
    assert "Notification settings" in client.get("/notifications/").get_data(as_text=True)

    form = {f"{k}__{c}": "on" for k, who in KINDS.items() if who != "staff" for c in NOTIFICATION_CHANNELS}
    del form["reply__email"], form["survey__in_app"]
    resp = client.post("/notifications/settings", data=form)
    assert resp.status_code == 302
    session.rollback()
    assert opted_out(session, alice.id) == {("reply", "email"), ("survey", "in_app"), ("assigned", "email")}
    shown = boxes(client.get("/notifications/settings").get_data(as_text=True))
    assert not shown["reply__email"] and not shown["survey__in_app"] and shown["reply__in_app"]


def test_staff_see_every_kind(client, login, people):
    login(people["agent"])
    shown = boxes(client.get("/notifications/settings").get_data(as_text=True))
    assert set(shown) == {f"{k}__{c}" for k in KINDS for c in NOTIFICATION_CHANNELS} and all(shown.values())


def test_the_settings_need_a_login_and_a_csrf_token(app, csrf_app, session, people):
    anonymous = app.test_client()
    assert anonymous.get("/notifications/settings").status_code == 302
    client = csrf_app.test_client()
    client.post("/login", data={"email": people["alice"].email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True))})
    assert client.post("/notifications/settings", data={}).status_code == 400
    session.rollback()
    assert opted_out(session, people["alice"].id) == set()

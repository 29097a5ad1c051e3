"""The survey page (answer once, only closed, only the requester, field errors that lose
nothing, CSRF), the partial on the ticket page, and the satisfaction report's permissions."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from flask import render_template
from flask_login import login_user
from sqlalchemy import func, select

from kb import surveys
from kb.teams import Team
from kb.ticket_records import SurveyResponse
from kb.tickets import Ticket
from tests.conftest import csrf_token_from

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
ANSWER = {"speed": "4", "effectiveness": "5", "communication": "2", "comment": "Thanks!"}


@pytest.fixture
def team(session):
    team = Team(name="Access")
    session.add(team)
    session.commit()
    return team


@pytest.fixture
def make_ticket(session, make_user):
    def make(requester, status="closed", agent=None, team=None, closed_at=None):
        closed_at = closed_at or datetime.now(timezone.utc) - timedelta(days=1)
        ticket = Ticket(title="VPN <down>", description="It fails.", requester_id=requester.id, status=status,
                        created_at=closed_at - timedelta(days=2), assignee_id=agent.id if agent else None,
                        team_id=team.id if team else None, closed_at=closed_at if status == "closed" else None)
        session.add(ticket)
        session.commit()
        return ticket
    return make


def _count(session):
    return session.scalar(select(func.count()).select_from(SurveyResponse))


def _url(ticket):
    return f"/tickets/{ticket.id}/survey"


def test_the_form_is_accessible_and_uses_no_inline_code(client, login, make_user, make_ticket):
    ticket = make_ticket(login(make_user()))
    resp = client.get(_url(ticket))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("<fieldset") == 3 and html.count("<legend>") == 3
    assert "How quickly did we respond?" in html and "VPN &lt;down&gt;" in html
    for name in ("speed", "effectiveness", "communication"):
        for i, value in enumerate(range(1, 6)):
            assert re.search(rf'<input[^>]*id="{name}-{i}"[^>]*type="radio"[^>]*value="{value}"', html)
            assert f'<label class="rating-label" for="{name}-{i}">' in html
    assert "1 – very poor" in html and "5 – excellent" in html
    assert "css/survey.css" in html and " style=" not in html and "<script>" not in html


def test_answer_once_then_thank_you_and_refusal(client, login, make_user, make_ticket, session, team):
    agent = make_user("agent")
    requester = login(make_user())
    ticket = make_ticket(requester, agent=agent, team=team)
    assert _url(ticket) in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)  # the call to action
    resp = client.post(_url(ticket), data=ANSWER)
    assert resp.status_code == 302 and resp.location.endswith(f"/tickets/{ticket.id}")
    page = client.get(resp.location).get_data(as_text=True)
    assert "Thank you" in page and "Your rating" in page  # the ticket page includes the partial
    row = session.scalars(select(SurveyResponse)).one()
    assert (row.speed, row.effectiveness, row.communication, row.comment) == (4, 5, 2, "Thanks!")
    assert (row.agent_id, row.team_id, row.respondent_id) == (agent.id, team.id, requester.id)

    again = client.post(_url(ticket), data={**ANSWER, "speed": "1"})
    assert again.status_code == 409 and "already rated this ticket" in again.get_data(as_text=True)
    assert client.get(_url(ticket)).status_code == 409
    assert _count(session) == 1 and session.scalar(select(SurveyResponse.speed)) == 4


def test_a_racing_second_answer_gets_the_clear_message(client, login, make_user, make_ticket, session,
                                                      monkeypatch):
    ticket = make_ticket(login(make_user()))
    assert client.post(_url(ticket), data=ANSWER).status_code == 302
    monkeypatch.setattr(surveys, "_answered", lambda *_: False)  # as if both requests passed the check
    resp = client.post(_url(ticket), data={**ANSWER, "speed": "1"})
    assert resp.status_code == 409 and "already rated this ticket" in resp.get_data(as_text=True)
    assert _count(session) == 1 and session.scalar(select(SurveyResponse.speed)) == 4


@pytest.mark.parametrize("changes, field_message", [
    ({"speed": None}, "Choose a rating for response speed."),
    ({"effectiveness": "6"}, "Choose a rating for the effectiveness of the solution."),
    ({"communication": "0"}, "Choose a rating for communication and attitude."),
    ({"speed": "abc"}, "Choose a rating for response speed."),
    ({"comment": "x" * 2001}, "Field cannot be longer than 2000 characters."),
])
def test_field_errors_keep_the_answers_and_save_nothing(client, login, make_user, make_ticket, session,
                                                       changes, field_message):
    ticket = make_ticket(login(make_user()))
    data = {k: v for k, v in {**ANSWER, **changes}.items() if v is not None}
    resp = client.post(_url(ticket), data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and field_message in html
    assert 'role="alert"' in html
    assert _count(session) == 0
    if "effectiveness" not in changes:  # what was chosen is still chosen
        assert re.search(r'id="effectiveness-4"[^>]*checked|checked[^>]*id="effectiveness-4"', html)
    assert "Thanks!" in html or "comment" in changes


@pytest.mark.parametrize("status", ["resolved", "in_progress", "cancelled"])
def test_only_closed_tickets(client, login, make_user, make_ticket, session, status):
    ticket = make_ticket(login(make_user()), status=status)
    for resp in (client.get(_url(ticket)), client.post(_url(ticket), data=ANSWER)):
        assert resp.status_code == 409 and "once it is closed" in resp.get_data(as_text=True)
    assert _count(session) == 0


def test_only_the_requester(client, login, make_user, make_ticket, session):
    ticket = make_ticket(make_user())
    assert client.get(_url(ticket)).status_code == 302  # anonymous: log in first
    login(make_user())
    assert client.get(_url(ticket)).status_code == 404
    assert client.post(_url(ticket), data=ANSWER).status_code == 404
    login(make_user("agent"))
    resp = client.post(_url(ticket), data=ANSWER)
    assert resp.status_code == 403 and "person who filed" in resp.get_data(as_text=True)
    assert _count(session) == 0
    assert client.get("/tickets/999999/survey").status_code == 404


def test_csrf_is_enforced(csrf_app, client, login, make_user, make_ticket, session):
    requester = make_user()
    ticket = make_ticket(requester)
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": requester.email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(page)})
    assert client.post(_url(ticket), data=ANSWER).status_code == 400
    assert _count(session) == 0
    token = csrf_token_from(client.get(_url(ticket)).get_data(as_text=True))
    assert client.post(_url(ticket), data={**ANSWER, "csrf_token": token}).status_code == 302
    assert _count(session) == 1


def _partial(app, user, ticket) -> str:
    from flask import g
    with app.test_request_context():
        login_user(user)
        try:
            return render_template("tickets/_survey_summary.html", ticket=ticket)
        finally:
            g.pop("_login_user", None)


def test_partial_shows_call_to_action_then_the_answer(app, session, make_user, make_ticket):
    requester, agent, other = make_user(), make_user("agent"), make_user()
    ticket = make_ticket(requester)
    html = _partial(app, requester, ticket)
    assert "Rate our service" in html and f'href="/tickets/{ticket.id}/survey"' in html
    assert "Rate our service" not in _partial(app, agent, ticket)  # staff are not asked
    open_ticket = make_ticket(requester, status="resolved")
    assert "Rate our service" not in _partial(app, requester, open_ticket)

    surveys.submit_survey(session, requester, ticket, speed=5, effectiveness=4, communication=3,
                          comment="<b>great</b>")
    session.commit()
    mine = _partial(app, requester, ticket)
    assert "Your rating" in mine and "Rate our service" not in mine
    assert "5 of 5" in mine and "4 of 5" in mine and "3 of 5" in mine
    assert "&lt;b&gt;great&lt;/b&gt;" in mine and "<b>great</b>" not in mine
    assert "Satisfaction rating" in _partial(app, agent, ticket)
    assert "of 5" not in _partial(app, other, ticket)  # not theirs: nothing at all


def test_report_is_for_leads_and_admins(client, login, make_user):
    assert client.get("/satisfaction/").status_code == 302
    for role, status in (("requester", 403), ("agent", 403), ("trainer", 403), ("lead", 200), ("admin", 200)):
        client.post("/logout")
        login(make_user(role))
        assert client.get("/satisfaction/").status_code == status, role


def test_report_empty_state_and_bad_dates(client, login, make_user):
    login(make_user("lead"))
    html = client.get("/satisfaction/").get_data(as_text=True)
    assert "No surveys were answered in this period." in html and "No comments in this period." in html
    assert client.get("/satisfaction/?since=yesterday").status_code == 400
    assert client.get("/satisfaction/?since=2025-03-10&until=2025-03-01").status_code == 400


def test_report_tables_comments_and_period(client, login, make_user, make_ticket, session, team):
    requester, agent = make_user(), make_user("agent", name="Xavier Agent")
    march = datetime(2025, 3, 5, tzinfo=timezone.utc)
    rated = []
    for comment, (s, e, c) in (("<script>alert(1)</script>", (5, 5, 4)), ("", (1, 2, 3))):
        ticket = make_ticket(requester, agent=agent, team=team, closed_at=march)
        rated.append(ticket)
        surveys.submit_survey(session, requester, ticket, speed=s, effectiveness=e, communication=c,
                              comment=comment, now=march + timedelta(hours=1))
    make_ticket(requester, agent=agent, team=team, closed_at=march)  # closed, never rated
    session.commit()
    login(make_user("lead"))
    html = client.get("/satisfaction/?since=2025-03-01&until=2025-03-31").get_data(as_text=True)
    assert "Xavier Agent" in html and "Access" in html
    assert re.search(r"Response speed</th><td class=\"num\"><span>3\.00</span>", html)
    assert re.search(r"Effectiveness of the solution</th><td class=\"num\"><span>3\.50</span>", html)
    assert "67 %" in html  # two of three closed tickets rated
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert f'href="/tickets/{rated[0].id}"' in html and f'href="/tickets/{rated[1].id}"' not in html  # no comment
    april = client.get("/satisfaction/?since=2025-04-01&until=2025-04-30").get_data(as_text=True)
    assert "No surveys were answered in this period." in april and "Xavier Agent" in april  # still a filter choice
    other_team = client.get(f"/satisfaction/?since=2025-03-01&until=2025-03-31&team={team.id + 99}")
    assert "No surveys were answered" in other_team.get_data(as_text=True)

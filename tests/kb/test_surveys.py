"""The satisfaction survey service: who may answer and when, validation that loses nothing,
one answer per ticket (also under a race), the agent and team tied at answer time, the
SURVEY event without the comment, and the report's numbers on constructed data."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kb import permissions, surveys
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.teams import Team
from kb.ticket_events import SURVEY, TicketEvent, visible_events
from kb.ticket_flow import STATUSES
from kb.ticket_records import SurveyResponse
from kb.tickets import Ticket

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
GOOD = {"speed": 4, "effectiveness": 5, "communication": 3}


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"),
            "agent": make_user("agent", name="Xavier Agent"), "agent2": make_user("agent", name="Yolanda Agent"),
            "lead": make_user("lead"), "trainer": make_user("trainer"), "admin": make_user("admin")}


@pytest.fixture
def teams(session):
    a, b = Team(name="Access"), Team(name="Hardware")
    session.add_all([a, b])
    session.flush()
    return {"a": a, "b": b}


@pytest.fixture
def make_ticket(session, people):
    """A ticket row placed in a status directly (setting up a case, not the lifecycle)."""
    def make(status="closed", requester=None, agent=None, team=None, closed_at=T0):
        ticket = Ticket(title="VPN down", description="It fails.", requester_id=(requester or people["requester"]).id,
                        status=status, created_at=closed_at - timedelta(days=1), updated_at=closed_at,
                        assignee_id=agent.id if agent else None, team_id=team.id if team else None,
                        closed_at=closed_at if status == "closed" else None)
        session.add(ticket)
        session.flush()
        return ticket
    return make


def _count(session, model=SurveyResponse):
    return session.scalar(select(func.count()).select_from(model))


def _survey_events(session, ticket):
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                          TicketEvent.kind == SURVEY)))


def test_answer_ties_agent_and_team_and_records_ratings_without_comment(session, people, teams, make_ticket):
    ticket = make_ticket(agent=people["agent"], team=teams["a"])
    ticket.assignee_id = people["agent2"].id  # reassigned after closure: the answer goes to who holds it now
    response = surveys.submit_survey(session, people["requester"], ticket, **GOOD,
                                     comment="  Quick fix,\r\nthanks <b>Xavier</b>  ", now=T0 + timedelta(hours=2))
    assert (response.ticket_id, response.respondent_id) == (ticket.id, people["requester"].id)
    assert (response.agent_id, response.team_id) == (people["agent2"].id, teams["a"].id)
    assert (response.speed, response.effectiveness, response.communication) == (4, 5, 3)
    assert response.comment == "Quick fix,\nthanks <b>Xavier</b>"
    assert response.created_at == T0 + timedelta(hours=2)

    [event] = _survey_events(session, ticket)
    assert event.actor_id == people["requester"].id and event.payload == GOOD
    assert "Quick fix" not in event.data and "comment" not in json.loads(event.data)
    assert event in visible_events(session, people["requester"], ticket)

    ticket.assignee_id, ticket.team_id = people["agent"].id, teams["b"].id  # later changes do not move it
    session.flush()
    session.refresh(response)
    assert (response.agent_id, response.team_id) == (people["agent2"].id, teams["a"].id)


def test_second_answer_is_refused_and_first_kept(session, people, make_ticket):
    ticket = make_ticket()
    surveys.submit_survey(session, people["requester"], ticket, **GOOD)
    with pytest.raises(InvalidTransition, match="You have already rated this ticket."):
        surveys.submit_survey(session, people["requester"], ticket, speed=1, effectiveness=1, communication=1)
    [only] = session.scalars(select(SurveyResponse)).all()
    assert only.speed == 4 and len(_survey_events(session, ticket)) == 1
    assert not surveys.can_answer(people["requester"], ticket)


def test_a_racing_second_answer_loses_on_the_unique_constraint(session, people, make_ticket, monkeypatch):
    ticket = make_ticket()
    surveys.submit_survey(session, people["requester"], ticket, **GOOD)
    monkeypatch.setattr(surveys, "_answered", lambda *_: False)  # both requests passed the check
    with pytest.raises(InvalidTransition, match="already rated"):
        surveys.submit_survey(session, people["requester"], ticket, speed=1, effectiveness=1, communication=1)
    session.commit()  # the savepoint rolled back alone: the first answer survives
    assert _count(session) == 1 and session.scalar(select(SurveyResponse.speed)) == 4
    assert len(_survey_events(session, ticket)) == 1


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "closed"])
def test_only_closed_tickets_can_be_rated(session, people, make_ticket, status):
    ticket = make_ticket(status=status)
    assert not surveys.can_answer(people["requester"], ticket)
    with pytest.raises(InvalidTransition, match="once it is closed"):
        surveys.submit_survey(session, people["requester"], ticket, **GOOD)
    assert _count(session) == 0 and not _survey_events(session, ticket)


def test_only_the_requester_can_answer(session, people, make_ticket):
    ticket = make_ticket()
    with pytest.raises(NotFound):
        surveys.submit_survey(session, people["other"], ticket, **GOOD)
    with pytest.raises(NotFound):
        surveys.submit_survey(session, None, ticket, **GOOD)
    for role in ("agent", "lead", "admin", "trainer"):
        with pytest.raises(PermissionDenied, match="person who filed"):
            surveys.submit_survey(session, people[role], ticket, **GOOD)
        assert not surveys.can_answer(people[role], ticket)
    assert surveys.can_answer(people["requester"], ticket)
    assert _count(session) == 0


@pytest.mark.parametrize("field", surveys.RATINGS)
@pytest.mark.parametrize("value, message", [
    (0, "must be from 1 to 5"), (6, "must be from 1 to 5"), (-3, "must be from 1 to 5"),
    (None, "Choose a rating"), ("", "Choose a rating"), ("3", "whole number"), (2.5, "whole number"),
    (True, "whole number"),
])
def test_bad_ratings_name_the_field_and_save_nothing(session, people, make_ticket, field, value, message):
    ticket = make_ticket()
    with pytest.raises(ValidationError, match=message) as err:
        surveys.submit_survey(session, people["requester"], ticket, **{**GOOD, field: value})
    assert err.value.field == field
    assert surveys.RATING_LABELS[field] in str(err.value)
    assert _count(session) == 0 and not _survey_events(session, ticket)
    assert surveys.can_answer(people["requester"], ticket)  # the requester can still answer


def test_comment_length(session, people, make_ticket):
    ticket = make_ticket()
    with pytest.raises(ValidationError, match="at most 2000") as err:
        surveys.submit_survey(session, people["requester"], ticket, **GOOD, comment="x" * 2001)
    assert err.value.field == "comment" and _count(session) == 0
    response = surveys.submit_survey(session, people["requester"], ticket, **GOOD, comment="y" * 2000)
    assert len(response.comment) == 2000


def test_get_survey_for_requester_and_staff_only(session, people, make_ticket):
    ticket = make_ticket()
    assert surveys.get_survey(session, people["requester"], ticket) is None
    response = surveys.submit_survey(session, people["requester"], ticket, **GOOD)
    for who in ("requester", "agent", "lead", "admin"):
        assert surveys.get_survey(session, people[who], ticket) is response
    with pytest.raises(NotFound):
        surveys.get_survey(session, people["other"], ticket)
    ticket.restricted = True  # a complaint: leads and admins only
    with pytest.raises(NotFound):
        surveys.get_survey(session, people["agent"], ticket)
    assert surveys.get_survey(session, people["lead"], ticket) is response


def test_permission_checks(people, make_ticket):
    ticket = make_ticket()
    assert permissions.can_answer_survey(people["requester"], ticket)
    assert not permissions.can_answer_survey(people["requester"], ticket, answered=True)
    assert not permissions.can_answer_survey(people["other"], ticket)
    assert not permissions.can_answer_survey(None, ticket)
    ticket.status = "resolved"
    assert not permissions.can_answer_survey(people["requester"], ticket)
    assert [w for w in people if permissions.can_view_reports(people[w])] == ["lead", "admin"]
    assert not permissions.can_view_reports(None)


MAR = datetime(2025, 3, 1, tzinfo=timezone.utc)
APR = datetime(2025, 4, 1, tzinfo=timezone.utc)


@pytest.fixture
def report_data(session, people, teams, make_ticket):
    """t1..t5 closed in March (t4 unanswered, t5 with no team or agent), t6 in February,
    t7 still open. Ratings chosen so the averages differ per question."""
    x, y, a, b = people["agent"], people["agent2"], teams["a"], teams["b"]
    day = lambda n: MAR + timedelta(days=n)  # noqa: E731
    plan = [  # agent, team, closed, answered, (speed, effectiveness, communication), comment
        (x, a, day(2), day(3), (5, 4, 3), ""),
        (y, a, day(4), day(4), (1, 2, 3), "Took a week."),
        (y, b, day(5), day(6), (4, 4, 4), "Friendly <script>alert(1)</script>"),
        (x, b, day(5), None, None, ""),
        (None, None, day(7), day(7), (2, 1, 5), "Nobody was assigned?"),
        (x, a, MAR - timedelta(days=27), MAR - timedelta(days=26), (1, 1, 1), "February"),
    ]
    tickets = []
    for agent, team, closed, answered, ratings, comment in plan:
        t = make_ticket(agent=agent, team=team, closed_at=closed)
        tickets.append(t)
        if answered:
            s, e, c = ratings
            surveys.submit_survey(session, people["requester"], t, speed=s, effectiveness=e, communication=c,
                                  comment=comment, now=answered)
    make_ticket(status="in_progress", agent=x, team=a, closed_at=day(8))
    session.commit()
    return tickets


def test_summary_numbers(session, people, teams, report_data):
    s = surveys.satisfaction_summary(session, since=MAR, until=APR)
    assert (s["count"], s["closed"], s["answered"]) == (4, 5, 4)
    assert s["response_rate"] == pytest.approx(0.8)
    assert s["speed"] == pytest.approx(3.0)
    assert s["effectiveness"] == pytest.approx(2.75)
    assert s["communication"] == pytest.approx(3.75)
    assert s["overall"] == pytest.approx((4 + 2 + 4 + 8 / 3) / 4)

    by_team = {r["team_id"]: r for r in s["by_team"]}
    assert [r["team_id"] for r in s["by_team"]] == [None, teams["a"].id, teams["b"].id]  # lowest first
    assert by_team[teams["a"].id]["team"] is teams["a"]
    assert (by_team[teams["a"].id]["count"], by_team[teams["a"].id]["overall"]) == (2, pytest.approx(3.0))
    assert (by_team[teams["b"].id]["closed"], by_team[teams["b"].id]["response_rate"]) == (2, pytest.approx(0.5))
    assert by_team[None]["response_rate"] == pytest.approx(1.0)

    by_agent = {r["agent_id"]: r for r in s["by_agent"]}
    x, y = people["agent"], people["agent2"]
    assert by_agent[x.id]["name"] == "Xavier Agent"
    assert (by_agent[x.id]["count"], by_agent[x.id]["closed"], by_agent[x.id]["response_rate"]) == (1, 2, 0.5)
    assert (by_agent[y.id]["count"], by_agent[y.id]["speed"], by_agent[y.id]["overall"]) == (2, 2.5, 3.0)
    assert by_agent[None]["name"] is None and by_agent[None]["count"] == 1


def test_summary_filters(session, people, teams, report_data):
    team_a = surveys.satisfaction_summary(session, since=MAR, until=APR, team_id=teams["a"].id)
    assert (team_a["count"], team_a["closed"], team_a["response_rate"]) == (2, 2, 1.0)
    assert [r["team_id"] for r in team_a["by_team"]] == [teams["a"].id]
    agent_x = surveys.satisfaction_summary(session, since=MAR, until=APR, agent_id=people["agent"].id)
    assert (agent_x["count"], agent_x["closed"], agent_x["speed"]) == (1, 2, 5.0)
    everything = surveys.satisfaction_summary(session)
    assert (everything["count"], everything["closed"], everything["answered"]) == (5, 6, 5)


def test_summary_of_an_empty_period(session, report_data):
    s = surveys.satisfaction_summary(session, since=APR, until=APR + timedelta(days=30))
    assert s["count"] == 0 and s["closed"] == 0 and s["response_rate"] is None
    assert s["overall"] is None and s["by_team"] == [] and s["by_agent"] == []


def test_recent_comments(session, people, teams, report_data):
    page = surveys.recent_comments(session, 10, 1, since=MAR, until=APR)
    assert [c.survey.comment for c in page.items] == [
        "Nobody was assigned?", "Friendly <script>alert(1)</script>", "Took a week."]
    assert page.items[1].agent is people["agent2"] and page.items[1].team is teams["b"]
    assert page.items[0].agent is None and page.items[0].team is None
    assert page.items[2].ticket is report_data[1]
    assert page.total == 3 and page.pages == 1 and not page.has_next

    second = surveys.recent_comments(session, 2, 2, since=MAR, until=APR)
    assert [c.survey.comment for c in second.items] == ["Took a week."]
    assert (second.pages, second.has_prev, second.prev_num, second.has_next) == (2, True, 1, False)
    assert len(surveys.recent_comments(session, 10, 1).items) == 4  # February's too, without a period
    only_b = surveys.recent_comments(session, 10, 1, team_id=teams["b"].id)
    assert [c.survey.comment for c in only_b.items] == ["Friendly <script>alert(1)</script>"]


def test_filter_choices_list_teams_and_people_who_work_tickets(session, people, teams):
    team_rows, agents = surveys.report_filter_choices(session)
    assert [t.name for t in team_rows] == ["Access", "Hardware"]
    assert {u.role for u in agents} == {"agent", "lead", "admin"}
    assert people["trainer"] not in agents and people["requester"] not in agents

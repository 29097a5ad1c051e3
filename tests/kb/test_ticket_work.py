"""Working a ticket: take, acknowledge, ask, answer, plan, resolve, confirm / reopen, and the
side records (collaborators, linked articles, edits, audited views and exports)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kb import ticket_work as work
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.teams import Team, TeamMember
from kb.ticket_events import list_events, visible_events
from kb.ticket_export import export_ticket
from kb.ticket_records import Notification
from kb.tickets import create_ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday


@pytest.fixture
def people(make_user):
    return {"alice": make_user(), "bob": make_user(), "agent": make_user("agent"), "agent2": make_user("agent"),
            "lead": make_user("lead"), "trainer": make_user("trainer")}


@pytest.fixture
def ticket(session, people):
    return create_ticket(session, people["alice"], title="Laptop will not boot",
                         description="Black screen since this morning", now=T0)


def kinds(session, ticket):
    return [e.kind for e in list_events(session, ticket)]


def test_acknowledge_takes_an_unassigned_ticket_and_records_the_plan(session, people, ticket):
    agent = people["agent"]
    eta = T0 + timedelta(hours=4)
    work.acknowledge(session, agent, ticket, planned_actions="Check the disk remotely", expected_completion_at=eta,
                     now=T0 + timedelta(minutes=5))
    assert (ticket.status, ticket.assignee_id) == ("acknowledged", agent.id)
    assert ticket.planned_actions == "Check the disk remotely" and ticket.expected_completion_at == eta
    assert kinds(session, ticket)[-4:] == ["assigned", "status", "status", "acknowledged"]
    # the requester is told, and sees the acknowledgement in their history
    note = session.query(Notification).filter_by(user_id=people["alice"].id, kind="acknowledged").one()
    assert ticket.reference in note.text
    assert "acknowledged" in [e.kind for e in visible_events(session, people["alice"], ticket)]


@pytest.mark.parametrize("actions,eta,field", [
    ("", T0 + timedelta(hours=1), "planned_actions"),
    ("Look at it", T0 - timedelta(hours=1), "expected_completion_at"),
    ("Look at it", None, "expected_completion_at"),
])
def test_acknowledge_validates(session, people, ticket, actions, eta, field):
    with pytest.raises(ValidationError) as err:
        work.acknowledge(session, people["agent"], ticket, planned_actions=actions, expected_completion_at=eta, now=T0)
    assert err.value.field == field


@pytest.mark.parametrize("who", ["alice", "trainer"])
def test_only_agents_work_tickets(session, people, ticket, who):
    with pytest.raises(PermissionDenied):
        work.acknowledge(session, people[who], ticket, planned_actions="x",
                         expected_completion_at=T0 + timedelta(days=1), now=T0)


def test_another_requester_gets_not_found(session, people, ticket):
    with pytest.raises(NotFound):
        work.save_plan(session, people["bob"], ticket, steps="x")
    with pytest.raises(NotFound):
        work.confirm(session, people["bob"], ticket)


def _acknowledged(session, people, ticket):
    work.acknowledge(session, people["agent"], ticket, planned_actions="Check", expected_completion_at=T0 + timedelta(days=1),
                     now=T0 + timedelta(minutes=1))


def test_question_waits_for_the_requester_and_their_answer_resumes_work(session, people, ticket):
    _acknowledged(session, people, ticket)
    work.ask_requester(session, people["agent"], ticket, "Does it beep when you switch it on?", now=T0 + timedelta(hours=1))
    assert ticket.status == "waiting_for_requester"
    work.reply(session, people["alice"], ticket, "Three short beeps.", now=T0 + timedelta(hours=2))
    assert ticket.status == "in_progress"
    assert session.query(Notification).filter_by(user_id=people["agent"].id, kind="reply").count() == 1


def test_resolve_needs_a_resolution_then_requester_reopens_and_confirms(session, people, ticket):
    agent, alice = people["agent"], people["alice"]
    _acknowledged(session, people, ticket)
    with pytest.raises(ValidationError) as err:
        work.resolve(session, agent, ticket, "  ")
    assert err.value.field == "resolution" and ticket.status == "acknowledged"
    work.resolve(session, agent, ticket, "Reseated the memory module.", now=T0 + timedelta(hours=3))
    assert ticket.status == "resolved" and ticket.resolved_at == T0 + timedelta(hours=3)
    with pytest.raises(PermissionDenied):
        work.confirm(session, agent, ticket)  # verification is the requester's
    with pytest.raises(ValidationError):
        work.reopen(session, alice, ticket, "")
    work.reopen(session, alice, ticket, "It failed again after lunch", now=T0 + timedelta(hours=5))
    assert ticket.status == "reopened" and ticket.resolved_at is None
    work.start_work(session, agent, ticket, now=T0 + timedelta(hours=6))  # back to diagnosis
    work.save_plan(session, agent, ticket, diagnosis="Faulty module", steps="Replace the module",
                   risks="None: spare in stock", now=T0 + timedelta(hours=6, minutes=5))
    work.resolve(session, agent, ticket, "Replaced the memory module.", now=T0 + timedelta(hours=7))
    work.confirm(session, alice, ticket, now=T0 + timedelta(hours=8))
    assert ticket.status == "closed" and ticket.closed_at == T0 + timedelta(hours=8)
    statuses = [e.to_status for e in list_events(session, ticket) if e.kind == "status"]
    assert statuses == ["assigned", "acknowledged", "in_progress", "resolved", "reopened", "in_progress",
                        "resolved", "closed"]
    with pytest.raises(InvalidTransition):
        work.resolve(session, agent, ticket, "again")


def test_plans_are_revisions_newest_first(session, people, ticket):
    _acknowledged(session, people, ticket)
    work.save_plan(session, people["agent"], ticket, steps="Step one", now=T0 + timedelta(hours=1))
    work.save_plan(session, people["agent"], ticket, steps="Adjusted plan", now=T0 + timedelta(hours=2))
    assert [p.steps for p in work.plans(session, people["alice"], ticket)] == ["Adjusted plan", "Step one"]
    with pytest.raises(ValidationError):
        work.save_plan(session, people["agent"], ticket, steps="")


def test_collaborators_agents_and_teams(session, people, ticket):
    agent, agent2 = people["agent"], people["agent2"]
    team = Team(name="Infrastructure")
    session.add(team)
    session.flush()
    session.add(TeamMember(team_id=team.id, user_id=agent2.id))
    work.add_collaborator(session, agent, ticket, user_id=agent2.id)
    work.add_collaborator(session, agent, ticket, team_id=team.id)
    with pytest.raises(ValidationError):
        work.add_collaborator(session, agent, ticket, user_id=agent2.id)  # twice
    with pytest.raises(ValidationError):
        work.add_collaborator(session, agent, ticket, user_id=people["alice"].id)  # not an agent
    with pytest.raises(ValidationError):
        work.add_collaborator(session, agent, ticket)
    rows = work.collaborators(session, ticket)
    assert [(r.user_id, r.team_id) for r in rows] == [(agent2.id, None), (None, team.id)]
    assert session.query(Notification).filter_by(user_id=agent2.id, kind="collaborator").count() == 2
    work.remove_collaborator(session, agent, ticket, rows[0].id)
    assert len(work.collaborators(session, ticket)) == 1
    assert kinds(session, ticket).count("collaborator") == 3


def test_linked_articles_respect_audience(session, people, ticket, make_article):
    public = make_article(title="Boot problems")
    internal = make_article(title="Internal boot runbook", audience="internal")
    work.link_article(session, people["agent"], ticket, public.id)
    work.link_article(session, people["agent"], ticket, internal.id)
    work.link_article(session, people["agent"], ticket, public.id)  # idempotent
    assert work.linked_articles(session, people["agent"], ticket) == [public, internal]
    assert work.linked_articles(session, people["alice"], ticket) == [public]
    with pytest.raises(PermissionDenied):
        work.link_article(session, people["alice"], ticket, public.id)
    with pytest.raises(NotFound):
        work.link_article(session, people["agent"], ticket, 99999)
    work.unlink_article(session, people["agent"], ticket, internal.id)
    assert work.linked_articles(session, people["agent"], ticket) == [public]


def test_requester_edits_only_while_new(session, people, ticket):
    alice = people["alice"]
    assert work.edit_ticket(session, alice, ticket, title="Laptop does not boot", contact_phone="+1 555 0100") == [
        "title", "contact_phone"]
    assert work.edit_ticket(session, alice, ticket, title="Laptop does not boot") == []
    with pytest.raises(ValidationError):
        work.edit_ticket(session, alice, ticket, contact_email="not-an-address")
    _acknowledged(session, people, ticket)
    with pytest.raises(PermissionDenied):
        work.edit_ticket(session, alice, ticket, title="Changed later")
    assert work.edit_ticket(session, people["agent"], ticket, description="Black screen, three beeps") == ["description"]


def test_viewing_a_restricted_ticket_is_audited_and_exports_are_events(session, people, ticket):
    lead, alice = people["lead"], people["alice"]
    ticket.restricted = True
    work.record_view(session, alice, ticket)  # the requester's own view is not an audit event
    work.record_view(session, lead, ticket)
    events = list_events(session, ticket)
    assert [e.actor_id for e in events if e.kind == "view_restricted"] == [lead.id]
    data = export_ticket(session, lead, ticket)
    assert data["reference"] == ticket.reference and data["restricted"] is True
    assert list_events(session, ticket)[-1].kind == "export"
    with pytest.raises(NotFound):
        export_ticket(session, people["agent"], ticket)  # agents do not see restricted tickets
    assert "view_restricted" not in [e.kind for e in visible_events(session, alice, ticket)]

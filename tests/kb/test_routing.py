"""Routing: ownership, workload, skills, languages, capacity, round-robin, complaints to the
lead, and the lead's reassign / transfer (with reasons and history)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb import routing
from kb.demo import DEMO_USERS, seed_demo_teams
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.taxonomy import TAXONOMY, get_category
from kb.teams import AgentProfile, AgentSkill, Team, TeamCategory, TeamMember
from kb.ticket_events import ASSIGNED, STATUS, TRANSFERRED, list_events
from kb.tickets import Ticket
from kb.users import create_user, get_user_by_email

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "a1": make_user("agent", name="Ann Agent"),
            "a2": make_user("agent", name="Bo Agent"), "lead": make_user("lead", name="Lena Lead"),
            "lead2": make_user("lead", name="Max Lead"), "admin": make_user("admin")}


@pytest.fixture
def cat(session):
    return lambda slug: get_category(session, slug)


@pytest.fixture
def infra(session, people, cat):
    """Infrastructure owns network; Ann and Bo are members, Lena leads."""
    team = Team(name="Infrastructure", lead_id=people["lead"].id)
    session.add(team)
    session.flush()
    session.add_all([TeamMember(team_id=team.id, user_id=people["a1"].id),
                     TeamMember(team_id=team.id, user_id=people["a2"].id),
                     TeamCategory(team_id=team.id, category_id=cat("network").id)])
    session.flush()
    return team


@pytest.fixture
def desk(session, people, cat):
    team = Team(name="Service Desk", lead_id=people["lead2"].id)
    session.add(team)
    session.flush()
    session.add_all([TeamMember(team_id=team.id, user_id=people["a2"].id),
                     TeamCategory(team_id=team.id, category_id=cat("software").id)])
    session.flush()
    return team


@pytest.fixture
def ticket(session, people, cat):
    def make(title="VPN drops", *, category="network", sub=None, priority="medium", status="new", assignee=None,
             language=None, restricted=False, requester=None, team=None):
        t = Ticket(title=title, description=title, requester_id=(requester or people["requester"]).id, status=status,
                   category_id=cat(category).id if category else None, subcategory_id=cat(sub).id if sub else None,
                   priority=priority, assignee_id=assignee.id if assignee else None, language=language,
                   restricted=restricted, team_id=team.id if team else None, created_at=T0)
        session.add(t)
        session.flush()
        return t
    return make


def _profile(session, user, **kw):
    session.add(AgentProfile(user_id=user.id, **kw))
    session.flush()


def test_owning_team_uses_the_subcategorys_own_owner_else_the_parents(session, infra, desk, cat):
    assert routing.owning_team(session, cat("vpn-remote")) is infra
    session.add(TeamCategory(team_id=desk.id, category_id=cat("wifi").id))
    session.flush()
    assert routing.owning_team(session, cat("wifi")) is desk
    assert routing.owning_team(session, cat("hardware")) is None
    infra.active = False
    assert routing.owning_team(session, cat("vpn-remote")) is None


def test_agent_loads_weigh_open_tickets_by_priority(session, infra, people, ticket, make_user):
    _profile(session, people["a2"], capacity=4, languages="zh,en")
    for p in ("high", "medium", "low"):
        ticket(priority=p, status="in_progress", assignee=people["a1"])
    ticket(priority="high", status="resolved", assignee=people["a1"])  # not open
    ticket(priority="high", status="assigned", assignee=people["a2"])
    make_user("agent")  # in no team: not listed
    loads = {a.user.id: a for a in routing.agent_loads(session, infra.id)}
    assert set(loads) == {people["a1"].id, people["a2"].id}
    a1, a2 = loads[people["a1"].id], loads[people["a2"].id]
    assert (a1.open_count, a1.weighted_load, a1.capacity, a1.languages) == (3, 6.0, 10, ["en"])
    assert (a2.open_count, a2.weighted_load, a2.capacity, a2.utilisation, a2.languages) == (1, 3.0, 4, 0.75, ["zh", "en"])
    assert a1.team_ids == [infra.id]
    people["a1"].active = False
    assert [a.user.id for a in routing.agent_loads(session)] == [people["a2"].id]


def test_least_workload_wins_and_route_records_the_assignment(session, infra, people, ticket):
    ticket(status="in_progress", assignee=people["a1"])
    t = ticket()
    decision = routing.route(session, t, now=T0)
    assert decision.assignee is people["a2"] and t.assignee_id == people["a2"].id and t.team_id == infra.id
    assert "Infrastructure owns Network connectivity" in decision.reason and "least workload 0.0/10" in decision.reason
    assert t.status == "assigned"
    events = list_events(session, t)
    assigned = next(e for e in events if e.kind == ASSIGNED)
    assert assigned.actor_id is None and assigned.payload["auto"] is True
    assert assigned.payload["assignee"] == "Bo Agent" and assigned.payload["team"] == "Infrastructure"
    status = next(e for e in events if e.kind == STATUS)
    assert (status.from_status, status.to_status, status.payload) == ("new", "assigned", {"auto": True})
    assert session.get(AgentProfile, people["a2"].id).last_assigned_at == T0


def test_equal_agents_take_turns(session, infra, people, ticket):
    got = []
    for n in range(3):
        t = ticket(f"VPN {n}")
        routing.route(session, t, now=T0 + timedelta(minutes=n))
        got.append(t.assignee_id)
        t.status = "resolved"  # workload back to zero: only the round-robin decides
        session.flush()
    a1, a2 = people["a1"].id, people["a2"].id
    assert got == [a1, a2, a1]


def test_full_agents_are_passed_over_unless_everyone_is_full(session, infra, people, ticket):
    _profile(session, people["a1"], capacity=2)
    ticket(status="in_progress", assignee=people["a1"])                    # a1: 2/2, full
    ticket(status="in_progress", assignee=people["a2"], priority="high")   # a2: 3/10
    assert routing.choose(session, ticket()).assignee is people["a2"]
    ticket(status="in_progress", assignee=people["a2"], priority="high")
    ticket(status="in_progress", assignee=people["a2"], priority="high")
    ticket(status="in_progress", assignee=people["a2"], priority="medium")  # a2: 11/10, full too
    d = routing.choose(session, ticket())
    assert d.assignee is people["a1"] and "everyone is at capacity" in d.reason


def test_skills_decide_before_workload(session, infra, people, ticket, cat):
    ticket(status="in_progress", assignee=people["a2"], priority="high")
    session.add(AgentSkill(user_id=people["a2"].id, category_id=cat("vpn-remote").id))
    session.flush()
    d = routing.choose(session, ticket(sub="vpn-remote"))
    assert d.assignee is people["a2"] and "skilled in VPN and remote work" in d.reason
    d = routing.choose(session, ticket(sub="wifi"))  # nobody skilled in Wi-Fi or network itself
    assert d.assignee is people["a1"] and "nobody is skilled in Wi-Fi" in d.reason


def test_language_preference(session, infra, people, ticket):
    _profile(session, people["a2"], languages="zh,en")
    ticket(status="in_progress", assignee=people["a2"], priority="high")
    d = routing.choose(session, ticket(language="zh"))
    assert d.assignee is people["a2"] and "speaks zh" in d.reason
    assert routing.choose(session, ticket(language="de")).assignee is people["a1"]  # nobody speaks it: ignored


def test_no_owner_goes_to_the_first_active_team_and_no_team_leaves_it_unassigned(session, people, ticket, cat):
    t = ticket(category="hardware")
    d = routing.route(session, t)
    assert d.team is None and t.assignee_id is None and t.status == "new" and list_events(session, t) == []
    first = Team(name="First")
    session.add(first)
    session.flush()
    session.add(TeamMember(team_id=first.id, user_id=people["a1"].id))
    d = routing.choose(session, ticket(category=None))
    assert d.team is first and d.assignee is people["a1"] and "no category" in d.reason and "default team" in d.reason


def test_an_agent_never_gets_their_own_ticket(session, infra, people, ticket):
    ticket(status="in_progress", assignee=people["a2"])
    assert routing.choose(session, ticket(requester=people["a1"])).assignee is people["a2"]


def test_complaints_go_to_the_lead_never_an_agent(session, infra, people, ticket):
    t = ticket("Ann was rude to me", restricted=True)
    d = routing.route(session, t)
    assert d.assignee is people["lead"] and t.assignee_id == people["lead"].id
    assert "team lead Lena Lead" in d.reason and "never to an agent" in d.reason
    about_lead = ticket("Lena Lead was rude on the phone", restricted=True)
    d = routing.choose(session, about_lead)
    assert d.assignee is people["lead2"] and "mentions the team lead Lena Lead" in d.reason
    assert routing.choose(session, ticket("Lena ignored me", restricted=True)).assignee is people["lead2"]
    not_named = ticket("Please tell the team lead: Ann was rude to Lenard", restricted=True)
    assert routing.choose(session, not_named).assignee is people["lead"]
    infra.lead_id = None
    assert routing.choose(session, ticket("rude", restricted=True)).assignee.role in ("lead", "admin")


def test_lead_reassigns_with_a_reason(session, infra, people, ticket):
    t = ticket(status="assigned", assignee=people["a1"], team=infra)
    with pytest.raises(ValidationError, match="reason"):
        routing.reassign(session, people["lead"], t, people["a2"].id, "  ")
    with pytest.raises(PermissionDenied):
        routing.reassign(session, people["a1"], t, people["a2"].id, "swap")
    with pytest.raises(PermissionDenied):
        routing.reassign(session, people["requester"], t, people["a2"].id, "I prefer Bo")
    with pytest.raises(ValidationError, match="not an agent or lead of Infrastructure"):
        routing.reassign(session, people["lead"], t, people["admin"].id, "swap")
    assert t.assignee_id == people["a1"].id and list_events(session, t) == []
    routing.reassign(session, people["lead"], t, people["a2"].id, "Ann is on leave")
    ev = list_events(session, t)[-1]
    assert t.assignee_id == people["a2"].id and ev.kind == ASSIGNED and ev.actor_id == people["lead"].id
    assert ev.payload["reason"] == "Ann is on leave" and ev.payload["from_assignee"] == "Ann Agent"


def test_other_requesters_get_not_found_and_complaints_only_go_to_leads(session, infra, people, ticket, make_user):
    t = ticket(status="assigned", assignee=people["a1"], team=infra)
    with pytest.raises(NotFound):
        routing.reassign(session, make_user("requester"), t, people["a2"].id, "x")
    complaint = ticket("rude", restricted=True, team=infra, status="assigned", assignee=people["lead"])
    with pytest.raises(ValidationError, match="never an agent"):
        routing.reassign(session, people["lead"], complaint, people["a1"].id, "Ann can handle it")
    routing.reassign(session, people["lead"], complaint, people["admin"].id, "escalating")
    assert complaint.assignee_id == people["admin"].id


def test_transfer_keeps_history_and_picks_an_agent_in_the_new_team(session, infra, desk, people, ticket):
    t = ticket()
    routing.route(session, t, now=T0)
    first = t.assignee_id
    with pytest.raises(ValidationError, match="reason"):
        routing.transfer(session, people["lead"], t, desk.id, "")
    with pytest.raises(PermissionDenied):
        routing.transfer(session, people["a1"], t, desk.id, "not ours")
    with pytest.raises(ValidationError, match="already with"):
        routing.transfer(session, people["lead"], t, infra.id, "again")
    d = routing.transfer(session, people["lead"], t, desk.id, "It is an Outlook problem", now=T0 + timedelta(hours=1))
    assert t.team_id == desk.id and t.assignee_id == people["a2"].id and d.assignee is people["a2"]
    kinds = [e.kind for e in list_events(session, t)]
    assert kinds.count(ASSIGNED) == 1 and kinds[-1] == TRANSFERRED  # the first assignment is still there
    ev = list_events(session, t)[-1]
    assert ev.payload["from_team"] == "Infrastructure" and ev.payload["team"] == "Service Desk"
    assert ev.payload["from_assignee_id"] == first and ev.payload["reason"] == "It is an Outlook problem"


def test_transfer_with_a_chosen_assignee_moves_a_new_ticket_to_assigned(session, infra, desk, people, ticket):
    t = ticket(category=None)
    with pytest.raises(ValidationError, match="not an agent or lead of Service Desk"):
        routing.transfer(session, people["lead"], t, desk.id, "desk", assignee_id=people["a1"].id)
    assert t.team_id is None and t.status == "new"
    routing.transfer(session, people["lead"], t, desk.id, "desk", assignee_id=people["a2"].id)
    assert (t.team_id, t.assignee_id, t.status) == (desk.id, people["a2"].id, "assigned")


def test_rebalance_suggests_moves_from_overloaded_agents(session, infra, people, ticket):
    _profile(session, people["a1"], capacity=4)
    moved = [ticket(f"t{i}", status="assigned", assignee=people["a1"], team=infra) for i in range(3)]  # 6/4
    ticket("busy", status="in_progress", assignee=people["a1"], team=infra)  # 8/4, acknowledged work stays
    moves = routing.rebalance_suggestions(session, infra.id)
    assert moves and all(src is people["a1"] and dst is people["a2"] for _, src, dst in moves)
    assert {t.id for t, _, _ in moves} <= {t.id for t in moved} and len(moves) == 2
    assert routing.rebalance_suggestions(session, 999) == []


def test_demo_teams_give_every_top_category_an_owner(session):
    for email, name, role, locale in DEMO_USERS:
        create_user(session, None, email=email, name=name, password="demo-password", role=role, locale=locale)
    seed_demo_teams(session)
    seed_demo_teams(session)  # idempotent
    assert session.query(Team).count() == 3
    for slug, *_ in TAXONOMY:
        assert routing.owning_team(session, get_category(session, slug)) is not None, slug
    liwei = get_user_by_email(session, "liwei@contoso.example")
    assert session.get(AgentProfile, liwei.id).language_list == ["zh", "en"]
    assert session.scalars(select(AgentSkill).where(AgentSkill.user_id == liwei.id)).all()
    service = routing.owning_team(session, get_category(session, "complaints-feedback"))
    assert service.name == "Service Desk" and service.lead.email == "lead@contoso.example"


def test_a_filed_complaint_about_an_agent_goes_to_the_lead(session, infra, people, cat):
    from kb.permissions import can_view_ticket
    from kb.tickets import create_ticket
    from search.embedders import HashEmbedder

    session.add(TeamCategory(team_id=infra.id, category_id=cat("service").id))
    session.flush()
    t = create_ticket(session, people["requester"], title="Complaint", embedder=HashEmbedder(),
                      description="Ann Agent was rude and unprofessional when she fixed my VPN.", now=T0)
    assert t.restricted and t.subcategory.slug == "complaints-feedback"
    assert t.assignee_id == people["lead"].id and t.status == "assigned"
    assert not can_view_ticket(people["a1"], t) and can_view_ticket(people["lead"], t)

"""Service configuration pages: matrix, teams, agent profiles (admins), triage accuracy
(leads and admins); validation errors shown, CSRF enforced."""
from __future__ import annotations

import pytest

from kb.taxonomy import get_category
from kb.teams import AgentProfile, AgentSkill, Team, TeamCategory, TeamMember
from kb.ticket_records import PriorityMatrixCell
from kb.triage_service import seed_priority_matrix
from tests.conftest import csrf_token_from

CELLS = [(i, u) for i in ("single", "several", "all") for u in ("can_wait", "impeded", "stopped")]
DEFAULT = {("single", "can_wait"): "low", ("single", "impeded"): "medium", ("single", "stopped"): "medium",
           ("several", "can_wait"): "medium", ("several", "impeded"): "medium", ("several", "stopped"): "high",
           ("all", "can_wait"): "medium", ("all", "impeded"): "high", ("all", "stopped"): "high"}


def _matrix_form(**changes):
    cells = {**DEFAULT, **{tuple(k.split("__")): v for k, v in changes.items()}}
    return {f"{i}__{u}": cells[(i, u)] for i, u in CELLS}


PAGES = ["/admin/service/matrix", "/admin/service/teams", "/admin/service/agents"]


@pytest.mark.parametrize("role", ["agent", "lead", "trainer", "requester"])
def test_configuration_pages_are_for_admins_only(client, make_user, login, role):
    login(make_user(role))
    for page in PAGES:
        assert client.get(page).status_code == 403, page
    assert client.post("/admin/service/matrix", data=_matrix_form()).status_code == 403


def test_anonymous_visitors_do_not_see_the_area(client):
    for page in [*PAGES, "/admin/service/triage"]:
        assert client.get(page).status_code == 404


def test_admin_edits_the_matrix(client, make_user, login, session):
    seed_priority_matrix(session)
    session.commit()
    login(make_user("admin"))
    page = client.get("/admin/service/matrix").get_data(as_text=True)
    assert "System crash or data loss: respond immediately." in page and "Work stopped" in page
    assert 'name="single__impeded"' in page
    resp = client.post("/admin/service/matrix", data=_matrix_form(single__impeded="low"))
    assert resp.status_code == 302
    assert "Priority matrix saved." in client.get(resp.headers["Location"]).get_data(as_text=True)
    session.expire_all()
    assert session.get(PriorityMatrixCell, ("single", "impeded")).priority == "low"


def test_an_invalid_matrix_is_shown_with_the_error_and_not_saved(client, make_user, login, session):
    seed_priority_matrix(session)
    session.commit()
    login(make_user("admin"))
    resp = client.post("/admin/service/matrix", data=_matrix_form(all__stopped="low"))
    assert resp.status_code == 400
    assert "never lower the priority" in resp.get_data(as_text=True)
    resp = client.post("/admin/service/matrix", data=_matrix_form(single__can_wait="urgent"))
    assert resp.status_code == 400 and "Not a valid choice" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(PriorityMatrixCell, ("all", "stopped")).priority == "high"


def test_admin_creates_and_configures_a_team(client, make_user, login, session):
    login(make_user("admin"))
    lead, agent = make_user("lead", name="Lena Lead"), make_user("agent", name="Ann Agent")
    resp = client.post("/admin/service/teams", data={"name": "Network Ops", "name_zh": "网络运维"})
    assert resp.status_code == 302
    team = session.query(Team).filter_by(name="Network Ops").one()
    page = client.get(f"/admin/service/teams/{team.id}").get_data(as_text=True)
    assert "Ann Agent" in page and "Network connectivity" in page
    network = get_category(session, "network")
    resp = client.post(f"/admin/service/teams/{team.id}", data={
        "name": "Network Operations", "name_zh": "网络运维", "lead_id": str(lead.id), "active": "y",
        "member_ids": [str(agent.id)], "category_ids": [str(network.id)]})
    assert resp.status_code == 302
    session.expire_all()
    team = session.get(Team, team.id)
    assert team.name == "Network Operations" and team.lead_id == lead.id
    assert [m.user_id for m in team.members] == [agent.id]
    assert session.get(TeamCategory, network.id).team_id == team.id
    listing = client.get("/admin/service/teams").get_data(as_text=True)
    assert "Network Operations" in listing and "Lena Lead" in listing


def test_team_errors_are_shown_and_nothing_changes(client, make_user, login, session):
    login(make_user("admin"))
    agent = make_user("agent")
    assert client.post("/admin/service/teams", data={"name": "Desk"}).status_code == 302
    resp = client.post("/admin/service/teams", data={"name": "desk"})
    assert resp.status_code == 400 and "already exists" in resp.get_data(as_text=True)
    other = session.query(Team).filter_by(name="Desk").one()
    hardware = get_category(session, "hardware")
    session.add(TeamCategory(team_id=other.id, category_id=hardware.id))
    session.commit()
    assert client.post("/admin/service/teams", data={"name": "Field"}).status_code == 302
    field = session.query(Team).filter_by(name="Field").one()
    resp = client.post(f"/admin/service/teams/{field.id}", data={
        "name": "Field", "member_ids": [str(agent.id)], "category_ids": [str(hardware.id)], "lead_id": ""})
    assert resp.status_code == 400 and "Hardware faults is owned by Desk" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.query(TeamMember).filter_by(team_id=field.id).count() == 0
    resp = client.post(f"/admin/service/teams/{field.id}", data={"name": "Field", "lead_id": str(agent.id)})
    assert resp.status_code == 400 and "Not a valid choice" in resp.get_data(as_text=True)  # an agent cannot lead


def test_admin_edits_an_agent_profile(client, make_user, login, session):
    login(make_user("admin"))
    agent = make_user("agent", name="Li Wei")
    assert "Li Wei" in client.get("/admin/service/agents").get_data(as_text=True)
    network = get_category(session, "network")
    resp = client.post(f"/admin/service/agents/{agent.id}", data={
        "capacity": "8", "languages": "zh, en", "skill_ids": [str(network.id)]})
    assert resp.status_code == 302
    session.expire_all()
    profile = session.get(AgentProfile, agent.id)
    assert (profile.capacity, profile.languages) == (8, "zh,en")
    assert session.get(AgentSkill, (agent.id, network.id)) is not None
    bad = client.post(f"/admin/service/agents/{agent.id}", data={"capacity": "8", "languages": "chinese!"})
    assert bad.status_code == 400 and "Not a language code" in bad.get_data(as_text=True)
    bad = client.post(f"/admin/service/agents/{agent.id}", data={"capacity": "0", "languages": "en"})
    assert bad.status_code == 400
    session.expire_all()
    assert session.get(AgentProfile, agent.id).capacity == 8
    requester = make_user("requester")
    assert client.get(f"/admin/service/agents/{requester.id}").status_code == 404


def test_triage_accuracy_page_is_for_leads_and_admins(client, make_user, login):
    login(make_user("agent"))
    assert client.get("/admin/service/triage").status_code == 403
    client.post("/logout")
    login(make_user("lead"))
    page = client.get("/admin/service/triage?days=30")
    assert page.status_code == 200 and "Kept as suggested" in page.get_data(as_text=True)
    assert client.get("/admin/service/matrix").status_code == 403


def test_forms_are_csrf_protected(csrf_app, client, make_user, login, session):
    seed_priority_matrix(session)
    session.commit()
    admin = make_user("admin")
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": admin.email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(page)})
    assert client.post("/admin/service/matrix", data=_matrix_form(single__impeded="low")).status_code == 400
    token = csrf_token_from(client.get("/admin/service/matrix").get_data(as_text=True))
    resp = client.post("/admin/service/matrix", data={**_matrix_form(single__impeded="low"), "csrf_token": token})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(PriorityMatrixCell, ("single", "impeded")).priority == "low"

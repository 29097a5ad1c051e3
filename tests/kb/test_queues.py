"""The desk's queues: who sees which ticket in which queue, restricted tickets kept from
agents in lists and counts, filters, sorting, pages, and the workload figures."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event
from werkzeug.security import generate_password_hash

from kb import queues
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.taxonomy import get_category
from kb.teams import AgentProfile, Team, TeamMember
from kb.tickets import Ticket
from kb.users import User
from tests.conftest import PASSWORD

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def password_hash():
    return generate_password_hash(PASSWORD)


@pytest.fixture
def desk(session, password_hash):
    """Two teams: Network (lead, ann, bob) and Apps (lead2, cy); a requester; an admin.
    Users are rows with one shared hash (hashing a password per user made each test 2 s)."""
    people = {}
    for key, role, name in (("lead", "lead", "Lena Lead"), ("admin", "admin", "Ada Admin"),
                            ("requester", "requester", "Rita Requester"), ("ann", "agent", "Ann Agent"),
                            ("bob", "agent", "Bob Agent"), ("cy", "agent", "Cy Agent"), ("lead2", "lead", "Lou Lead")):
        people[key] = User(email=f"{key}@example.test", name=name, role=role, password_hash=password_hash)
    session.add_all(people.values())
    session.flush()
    net = Team(name="Network", lead_id=people["lead"].id)
    apps = Team(name="Apps", lead_id=people["lead2"].id)
    session.add_all([net, apps])
    session.flush()
    session.add_all([TeamMember(team_id=net.id, user_id=people["ann"].id),
                     TeamMember(team_id=net.id, user_id=people["bob"].id),
                     TeamMember(team_id=apps.id, user_id=people["cy"].id)])
    session.commit()
    people.update(net=net, apps=apps)
    return people


@pytest.fixture
def make_ticket(session, desk):
    n = iter(range(1, 10_000))

    def factory(title=None, status="assigned", team="net", assignee=None, priority="medium", due=None,
                breached=None, restricted=False, created=None, category=None, subcategory=None):
        i = next(n)
        created = created or NOW - timedelta(days=1, minutes=i)
        t = Ticket(title=title or f"Ticket {i}", description="d", requester_id=desk["requester"].id, status=status,
                   team_id=desk[team].id if team else None, assignee_id=desk[assignee].id if assignee else None,
                   priority=priority, next_due_at=due, breached_at=breached, restricted=restricted,
                   created_at=created, updated_at=created + timedelta(minutes=i),
                   category_id=category.id if category else None,
                   subcategory_id=subcategory.id if subcategory else None)
        session.add(t)
        session.commit()
        return t
    return factory


def ids(page):
    return [t.id for t in page.items]


def listed(session, who, name, **kw):
    return ids(queues.list_queue(session, who, name, now=NOW, per_page=100, **kw))


def test_mine_is_my_open_tickets_only(session, desk, make_ticket):
    mine = make_ticket(assignee="ann")
    waiting = make_ticket(assignee="ann", status="waiting_for_requester")
    make_ticket(assignee="ann", status="resolved")   # resolved is not open: the requester confirms
    make_ticket(assignee="ann", status="closed")
    make_ticket(assignee="bob")
    assert sorted(listed(session, desk["ann"], "mine")) == sorted([mine.id, waiting.id])
    assert queues.queue_counts(session, desk["ann"], NOW)["mine"] == 2


def test_team_is_my_teams_open_tickets(session, desk, make_ticket):
    a = make_ticket(assignee="bob")
    b = make_ticket(assignee=None, status="new")
    make_ticket(team="apps", assignee="cy")
    make_ticket(assignee="bob", status="cancelled")
    assert sorted(listed(session, desk["ann"], "team")) == sorted([a.id, b.id])
    # a lead's teams are the ones they lead, even without a membership row
    assert sorted(listed(session, desk["lead"], "team")) == sorted([a.id, b.id])
    assert listed(session, desk["admin"], "team") == []  # admins in no team


def test_unassigned_agents_see_their_teams_leads_see_all(session, desk, make_ticket):
    mine_team = make_ticket(status="new")
    other_team = make_ticket(status="new", team="apps")
    no_team = make_ticket(status="new", team=None)
    make_ticket(assignee="ann")
    make_ticket(status="cancelled")
    assert listed(session, desk["ann"], "unassigned") == [mine_team.id]
    assert sorted(listed(session, desk["lead"], "unassigned")) == sorted([mine_team.id, other_team.id, no_team.id])
    assert sorted(listed(session, desk["admin"], "unassigned")) == sorted([mine_team.id, other_team.id, no_team.id])


def test_breaching_is_due_within_the_window_and_not_yet_breached(session, desk, make_ticket):
    soon = make_ticket(assignee="ann", due=NOW + 3 * H)
    overdue_unmarked = make_ticket(assignee="bob", due=NOW - H)  # the scheduler has not marked it yet
    make_ticket(assignee="ann", due=NOW + 5 * H)
    make_ticket(assignee="ann", due=NOW - 2 * H, breached=NOW - 2 * H)
    make_ticket(assignee="ann", due=None)                         # paused clock
    make_ticket(assignee="ann", due=NOW + H, status="resolved")
    other_team = make_ticket(team="apps", assignee="cy", due=NOW + H)
    assert sorted(listed(session, desk["ann"], "breaching")) == sorted([soon.id, overdue_unmarked.id])
    assert sorted(listed(session, desk["lead"], "breaching")) == sorted([soon.id, overdue_unmarked.id, other_team.id])
    wider = queues.list_queue(session, desk["ann"], "breaching", now=NOW, breaching_hours=6)
    assert wider.total == 3
    assert queues.queue_counts(session, desk["ann"], NOW, breaching_hours=6)["breaching"] == 3


def test_breached_is_open_and_marked(session, desk, make_ticket):
    hit = make_ticket(assignee="ann", due=NOW - H, breached=NOW - H)
    paused = make_ticket(assignee="bob", status="waiting_for_requester", breached=NOW - 9 * H)
    make_ticket(assignee="ann", status="closed", breached=NOW - 9 * H)
    elsewhere = make_ticket(team="apps", assignee="cy", breached=NOW - H)
    make_ticket(assignee="ann", due=NOW + H)
    assert sorted(listed(session, desk["ann"], "breached")) == sorted([hit.id, paused.id])
    assert sorted(listed(session, desk["lead"], "breached")) == sorted([hit.id, paused.id, elsewhere.id])


def test_agent_sees_own_ticket_in_another_team_in_shared_queues(session, desk, make_ticket):
    lent = make_ticket(team="apps", assignee="ann", breached=NOW - H)
    assert listed(session, desk["ann"], "breached") == [lent.id]
    assert listed(session, desk["ann"], "team") == []


def test_all_open_is_for_leads_and_admins(session, desk, make_ticket):
    a, b = make_ticket(assignee="ann"), make_ticket(team=None, status="new")
    make_ticket(status="closed")
    assert sorted(listed(session, desk["lead"], "all_open")) == sorted([a.id, b.id])
    with pytest.raises(PermissionDenied):
        queues.list_queue(session, desk["ann"], "all_open")
    assert "all_open" not in queues.queue_counts(session, desk["ann"], NOW)
    assert queues.available_queues(desk["ann"]) == ("mine", "team", "unassigned", "breaching", "breached")


@pytest.mark.parametrize("who", ["requester", None])
def test_requesters_and_anonymous_have_no_desk(session, desk, who):
    actor = desk[who] if who else None
    with pytest.raises(PermissionDenied):
        queues.queue_counts(session, actor, NOW)
    with pytest.raises(PermissionDenied):
        queues.list_queue(session, actor, "mine")
    assert queues.available_queues(actor) == ()


def test_restricted_tickets_are_hidden_from_agents_in_lists_and_counts(session, desk, make_ticket):
    complaint = make_ticket(assignee="ann", restricted=True, breached=NOW - H, status="new")
    complaint.assignee_id = None
    session.commit()
    assigned_complaint = make_ticket(assignee="ann", restricted=True, due=NOW + H)
    counts = queues.queue_counts(session, desk["ann"], NOW)
    assert counts == {"mine": 0, "team": 0, "unassigned": 0, "breaching": 0, "breached": 0}
    for name in counts:
        assert listed(session, desk["ann"], name) == []
    lead_counts = queues.queue_counts(session, desk["lead"], NOW)
    assert lead_counts["team"] == 2 and lead_counts["unassigned"] == 1 and lead_counts["breached"] == 1
    assert sorted(listed(session, desk["lead"], "all_open")) == sorted([complaint.id, assigned_complaint.id])


def test_counts_match_list_totals(session, desk, make_ticket):
    for i in range(6):
        make_ticket(assignee=("ann", "bob", None)[i % 3], status="new" if i % 3 == 2 else "assigned",
                    due=NOW + i * H, breached=NOW - H if i == 5 else None, team=("net", "apps")[i % 2])
    for who in ("ann", "lead", "admin"):
        counts = queues.queue_counts(session, desk[who], NOW)
        for name, n in counts.items():
            assert queues.list_queue(session, desk[who], name, now=NOW).total == n, (who, name)


def test_filters(session, desk, make_ticket):
    access = get_category(session, "access")
    sub = access.children[0]
    high = make_ticket(title="VPN drops every hour", priority="high", assignee="ann", category=access)
    low = make_ticket(title="Printer jam on floor 3", priority="low", assignee="bob", status="in_progress",
                      category=access, subcategory=sub)
    apps = make_ticket(title="VPN client crash", team="apps", assignee="cy")
    lead = desk["lead"]
    assert listed(session, lead, "all_open", priority="high") == [high.id]
    assert listed(session, lead, "all_open", status="in_progress") == [low.id]
    assert sorted(listed(session, lead, "all_open", category_id=str(access.id))) == sorted([high.id, low.id])
    assert listed(session, lead, "all_open", category_id=sub.id) == [low.id]
    assert listed(session, lead, "all_open", team_id=desk["apps"].id) == [apps.id]
    assert listed(session, lead, "all_open", assignee_id=str(desk["bob"].id)) == [low.id]
    assert sorted(listed(session, lead, "all_open", q="vpn")) == sorted([high.id, apps.id])
    assert listed(session, lead, "all_open", q="vpn  HOUR") == [high.id]
    assert listed(session, lead, "all_open", q="100%") == []          # LIKE wildcards are literal
    assert listed(session, lead, "all_open", q=f" hd-{high.created_at.year}-{high.id:06d} ") == [high.id]
    assert listed(session, lead, "all_open", q=f"HD-{high.created_at.year - 1}-{high.id:06d}") == []
    assert listed(session, lead, "all_open", q="HD-0000-000001") == []
    # filters narrow a queue, they never widen it
    assert listed(session, desk["ann"], "mine", assignee_id=desk["bob"].id) == []
    assert listed(session, lead, "all_open", q="", priority="", team_id="") != []


@pytest.mark.parametrize("kw,field", [({"status": "closed"}, "status"), ({"status": "bogus"}, "status"),
                                      ({"priority": "urgent"}, "priority"), ({"team_id": "x"}, "team_id"),
                                      ({"category_id": "1; drop"}, "category_id"),
                                      ({"assignee_id": "me"}, "assignee_id"),
                                      ({"team_id": "9" * 30}, "team_id"), ({"team_id": -3}, "team_id"),
                                      ({"sort": "title"}, "sort"), ({"sort": "due", "direction": "up"}, "direction"),
                                      ({"page": "two"}, "page")])
def test_bad_filters_and_sorts_are_refused_clearly(session, desk, kw, field):
    with pytest.raises(ValidationError) as err:
        queues.list_queue(session, desk["lead"], "all_open", **kw)
    assert err.value.field == field and str(err.value)


def test_unknown_queue_is_not_found(session, desk):
    with pytest.raises(NotFound, match="no queue called 'later'"):
        queues.list_queue(session, desk["ann"], "later")


def test_due_sort_puts_breached_first_then_nearest_then_no_clock(session, desk, make_ticket):
    later = make_ticket(assignee="ann", due=NOW + 9 * H)
    none = make_ticket(assignee="ann", due=None)
    breached = make_ticket(assignee="ann", due=NOW + 20 * H, breached=NOW - H)
    soon = make_ticket(assignee="ann", due=NOW + H)
    assert listed(session, desk["ann"], "mine") == [breached.id, soon.id, later.id, none.id]
    assert listed(session, desk["ann"], "mine", direction="desc") == [none.id, later.id, soon.id, breached.id]


def test_priority_created_and_updated_sorts(session, desk, make_ticket):
    low = make_ticket(assignee="ann", priority="low", created=NOW - 3 * H)
    high = make_ticket(assignee="ann", priority="high", created=NOW - 1 * H)
    med_due = make_ticket(assignee="ann", priority="medium", created=NOW - 2 * H, due=NOW + H)
    med = make_ticket(assignee="ann", priority="medium", created=NOW - 4 * H)
    assert listed(session, desk["ann"], "mine", sort="priority") == [high.id, med_due.id, med.id, low.id]
    assert listed(session, desk["ann"], "mine", sort="created") == [high.id, med_due.id, low.id, med.id]
    assert listed(session, desk["ann"], "mine", sort="created", direction="asc") == [med.id, low.id, med_due.id,
                                                                                    high.id]
    assert listed(session, desk["ann"], "mine", sort="updated", direction="asc")[0] == med.id


def test_pages_and_a_page_past_the_end(session, desk, make_ticket):
    made = [make_ticket(assignee="ann", due=NOW + i * H) for i in range(5)]
    p1 = queues.list_queue(session, desk["ann"], "mine", per_page=2, now=NOW)
    p3 = queues.list_queue(session, desk["ann"], "mine", page=3, per_page=2, now=NOW)
    assert ids(p1) == [made[0].id, made[1].id] and (p1.total, p1.pages, p1.has_next, p1.has_prev) == (5, 3, True,
                                                                                                      False)
    assert ids(p3) == [made[4].id] and not p3.has_next
    beyond = queues.list_queue(session, desk["ann"], "mine", page=99, per_page=2, now=NOW)
    assert beyond.items == [] and beyond.total == 5 and beyond.page == 99
    assert queues.list_queue(session, desk["ann"], "mine", page=0, per_page=0, now=NOW).page == 1
    assert queues.list_queue(session, desk["ann"], "mine", per_page=10_000, now=NOW).per_page == queues.MAX_PER_PAGE


def test_offset_is_capped(session, desk, make_ticket, monkeypatch):
    for _ in range(3):
        make_ticket(assignee="ann")
    monkeypatch.setattr(queues, "MAX_PAGES", 2)
    page = queues.list_queue(session, desk["ann"], "mine", per_page=1, now=NOW)
    assert page.total == 3 and page.pages == 2
    assert queues.list_queue(session, desk["ann"], "mine", page=3, per_page=1, now=NOW).items == []


def test_total_hint_is_used_only_without_filters(session, desk, make_ticket):
    make_ticket(assignee="ann", priority="high")
    make_ticket(assignee="ann", priority="low")
    assert queues.list_queue(session, desk["ann"], "mine", total=2, now=NOW).total == 2
    assert queues.list_queue(session, desk["ann"], "mine", total=2, priority="low", now=NOW).total == 1


def test_page_loads_people_and_labels_without_a_query_per_row(app, session, desk, make_ticket):
    access = get_category(session, "access")
    for i in range(12):
        make_ticket(assignee=("ann", "bob")[i % 2], team="net", category=access)
    session.expire_all()
    lead = desk["lead"]
    assert lead.role == "lead"                                   # reloaded before counting
    statements = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", listener)
    try:
        page = queues.list_queue(session, lead, "team", now=NOW)
        before = len(statements)
        names = [(t.requester.name, t.assignee.name, t.team.name, t.category.name) for t in page.items]
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(names) == 12 and len(statements) == before       # nothing lazy-loaded per row
    assert before <= 8                                           # teams, count, page, 4 eager loads


def test_due_state():
    t = Ticket(next_due_at=NOW + 3 * H, breached_at=None)
    assert queues.due_state(t, NOW) == "breaching"
    assert queues.due_state(Ticket(next_due_at=NOW + 5 * H), NOW) == "ok"
    assert queues.due_state(Ticket(next_due_at=NOW - H), NOW) == "breached"
    assert queues.due_state(Ticket(next_due_at=None, breached_at=NOW - H), NOW) == "breached"
    assert queues.due_state(Ticket(next_due_at=None, breached_at=None), NOW) is None


def test_default_now_is_the_clock(session, desk, make_ticket, time_machine):
    time_machine.move_to(NOW, tick=False)
    make_ticket(assignee="ann", due=NOW + 2 * H)
    assert queues.queue_counts(session, desk["ann"])["breaching"] == 1
    time_machine.move_to(NOW - 3 * H, tick=False)
    assert queues.queue_counts(session, desk["ann"])["breaching"] == 0


def test_workload_per_agent(session, desk, make_ticket):
    session.add(AgentProfile(user_id=desk["ann"].id, capacity=4))
    session.commit()
    make_ticket(assignee="ann", priority="high", breached=NOW - H)
    make_ticket(assignee="ann", priority="medium")
    make_ticket(assignee="ann", priority="high", status="closed", breached=NOW - H)
    make_ticket(assignee="bob", priority="low")
    rows = queues.workload(session, desk["lead"])
    by_name = {r.load.user.name: r for r in rows}
    ann = by_name["Ann Agent"]
    assert (ann.load.open_count, ann.load.weighted_load, ann.load.capacity, ann.breached) == (2, 5.0, 4, 1)
    assert ann.overloaded and rows[0] is ann                     # busiest first
    assert by_name["Bob Agent"].breached == 0 and not by_name["Bob Agent"].overloaded
    assert {r.load.user.name for r in queues.workload(session, desk["lead"], team_id=desk["apps"].id)} == {"Cy Agent"}
    with pytest.raises(PermissionDenied):
        queues.workload(session, desk["ann"])

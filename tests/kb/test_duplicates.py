"""Duplicate and outage detection (kb.duplicates) with the fast hash embedder: clusters and
counts, the window, joining, marking duplicates, merging, incidents and the resolve cascade."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kb import duplicates as dup
from kb import permissions, ticket_grouping, ticket_work
from kb.channel_models import TicketFollower
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.ticket_events import FOLLOWER, LINKED, MERGED, list_events, visible_events
from kb.ticket_messages import TicketMessage, add_reply, visible_messages
from kb.ticket_records import Notification, TicketAttachment, TicketCollaborator
from kb.tickets import create_ticket, get_ticket
from search import HashEmbedder

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
EMB = HashEmbedder()
VPN = "VPN disconnects every few minutes from home"


@pytest.fixture
def people(make_user):
    names = ("alice", "bob", "carol", "dave", "erin")
    found = {n: make_user(name=n.title()) for n in names}
    found.update(agent=make_user("agent"), agent2=make_user("agent"), lead=make_user("lead"),
                 trainer=make_user("trainer"))
    return found


def file(session, user, title, description, minutes=0, **kw):
    return create_ticket(session, user, title=title, description=description, embedder=EMB,
                         now=T0 + timedelta(minutes=minutes), **kw)


@pytest.fixture
def vpn(session, people):
    """Alice and Bob report the VPN problem; Carol something else."""
    a = file(session, people["alice"], "VPN disconnects", "The VPN disconnects every few minutes when I work from home")
    b = file(session, people["bob"], "VPN keeps disconnecting", "vpn disconnecting every few minutes at home", 10)
    c = file(session, people["carol"], "Printer prints blank pages", "The printer on floor 3 prints blank pages", 20)
    return a, b, c


def reports(session, user, text=VPN, minutes=30, **kw):
    return dup.find_reports(session, user, text, EMB, now=T0 + timedelta(minutes=minutes), **kw)


def notes(session, user, kind=None):
    q = session.query(Notification).filter_by(user_id=user.id)
    return [n.text for n in (q.filter_by(kind=kind) if kind else q)]


# ------------------------------------------------------------------ finding reports
def test_similar_open_tickets_form_one_cluster_with_the_people_counted(session, people, vpn):
    a, b, _ = vpn
    [r] = reports(session, people["dave"])
    assert (r.root_id, r.count, r.is_incident, r.following, r.title) == (a.id, 2, False, False, None)
    assert r.category is (a.subcategory or a.category)            # a label, never someone's title
    assert (r.first_at, r.latest_at) == (a.created_at, b.created_at) and r.score >= dup.THRESHOLD
    assert reports(session, people["dave"], "printer on floor 3 prints blank pages") == []  # one person: no notice
    assert reports(session, people["dave"], "printer on floor 3 prints blank pages", min_reports=1)[0].count == 1
    assert reports(session, people["dave"], "Outlook crashes when I open the calendar") == []
    assert reports(session, people["dave"], "vpn") == []          # too short to say anything
    assert reports(session, None) == []                           # logged-in people only


def test_only_recent_open_unrestricted_tickets_count(session, people, vpn):
    a, b, _ = vpn
    assert reports(session, people["dave"], minutes=25 * 60) == []                 # outside the 24 h window
    assert reports(session, people["dave"], minutes=25 * 60, hours=48)[0].count == 2
    b.restricted = True
    assert reports(session, people["dave"]) == []
    b.restricted = False
    b.status = "resolved"
    assert reports(session, people["dave"]) == []


def test_own_tickets_never_match_and_a_reporter_is_not_asked_again(session, people, vpn):
    a, b, _ = vpn
    assert reports(session, people["alice"]) == []                                # only Bob's is left: 1 person
    assert reports(session, people["alice"], min_reports=1)[0].root_id == b.id
    dup.mark_duplicate(session, people["agent"], b, a, now=T0 + timedelta(minutes=15))
    assert reports(session, people["bob"], min_reports=1) == []                    # Bob reported it already


def test_an_incident_is_its_own_cluster_titled_by_staff_and_most_affected_first(session, people, vpn):
    a, b, _ = vpn
    d = file(session, people["dave"], "VPN disconnecting often", "the vpn disconnects every few minutes", 12)
    inc = dup.declare_incident(session, people["lead"], title="VPN gateway outage", ticket_ids=[a.id, b.id],
                               description="The VPN gateway drops connections every few minutes",
                               embedder=EMB, now=T0 + timedelta(minutes=20))
    first, second = reports(session, people["erin"], min_reports=1)
    assert (first.root_id, first.is_incident, first.title, first.count) == (inc.id, True, "VPN gateway outage", 2)
    assert (second.root_id, second.count) == (d.id, 1)            # the lead who declared it is not "a colleague"


# ------------------------------------------------------------------ joining
def test_join_follows_the_root_tells_the_agent_and_is_idempotent(session, people, vpn):
    a, _, _ = vpn
    a.assignee_id = people["agent"].id
    dave = people["dave"]
    root, joined = dup.join_issue(session, dave, a.id, VPN, EMB, now=T0 + timedelta(minutes=31))
    assert (root.id, joined) == (a.id, True) and dave.id in a.follower_ids
    assert get_ticket(session, dave, a.id) is a and permissions.can_view_ticket(dave, a)
    assert any("Dave" in t and "3 people" in t for t in notes(session, people["agent"], "update"))
    assert dup.join_issue(session, dave, a.id, VPN, EMB, now=T0 + timedelta(minutes=32)) == (a, False)
    assert session.query(TicketFollower).filter_by(ticket_id=a.id, user_id=dave.id).count() == 1
    assert [e.kind for e in list_events(session, a)].count(FOLLOWER) == 1
    assert FOLLOWER not in {e.kind for e in visible_events(session, people["alice"], a)}  # who joined: staff only
    [again] = reports(session, dave)
    assert (again.following, again.count) == (True, 2)
    assert reports(session, people["erin"])[0].count == 3
    assert dup.followed_tickets(session, dave) == [a] and dup.followed_tickets(session, people["alice"]) == []


def test_join_is_refused_for_what_was_not_offered(session, people, vpn):
    a, _, c = vpn
    with pytest.raises(NotFound):
        dup.join_issue(session, people["dave"], c.id, VPN, EMB, now=T0 + timedelta(minutes=30))  # not matching
    with pytest.raises(NotFound):
        dup.join_issue(session, people["dave"], a.id, "printer prints blank pages", EMB, now=T0)
    with pytest.raises(NotFound):
        dup.join_issue(session, people["dave"], a.id, VPN, EMB, now=T0 + timedelta(days=2))       # too old now
    with pytest.raises(PermissionDenied):
        dup.join_issue(session, None, a.id, VPN, EMB, now=T0)
    assert a.follower_ids == set() and not permissions.can_view_ticket(people["dave"], a)


# ------------------------------------------------------------------ duplicates and merges
def test_mark_duplicate_closes_it_under_the_root_and_its_requester_follows(session, people, vpn):
    a, b, _ = vpn
    target = dup.mark_duplicate(session, people["agent"], b, a, "Same outage, see the first report.",
                                now=T0 + timedelta(minutes=40))
    assert target is a and (b.parent_id, b.status, b.merged_into_id) == (a.id, "merged", None)
    assert people["bob"].id in a.follower_ids
    assert session.get(TicketFollower, (a.id, people["bob"].id)).source_ticket_id == b.id
    bob_sees = visible_events(session, people["bob"], b)
    assert [e.payload.get("action") for e in bob_sees if e.kind == LINKED] == ["duplicate_of"]
    assert LINKED in {e.kind for e in visible_events(session, people["alice"], a)}
    [told] = notes(session, people["bob"], "update")
    assert a.reference in told and b.reference in told
    assert dup.followed_tickets(session, people["bob"]) == [a]


def test_grouping_refusals(session, people, vpn):
    a, b, c = vpn
    agent = people["agent"]
    with pytest.raises(ValidationError, match="itself"):
        dup.mark_duplicate(session, agent, a, a)
    dup.mark_duplicate(session, agent, b, a)
    with pytest.raises(ValidationError):                     # merged: terminal, cannot be a target
        dup.merge_tickets(session, agent, c, b)
    with pytest.raises(ValidationError):                     # b is merged itself: not open
        dup.mark_duplicate(session, agent, b, c)
    a2 = file(session, people["erin"], "VPN", "vpn down", 56)
    c.restricted = True
    with pytest.raises(ValidationError, match="restricted"):
        dup.mark_duplicate(session, people["lead"], a2, c)
    c.restricted = False
    with pytest.raises(PermissionDenied):
        dup.mark_duplicate(session, people["trainer"], a2, a)
    with pytest.raises(NotFound):
        dup.mark_duplicate(session, people["alice"], a2, a)  # a requester cannot see Erin's ticket
    with pytest.raises(PermissionDenied):
        dup.merge_tickets(session, people["erin"], a2, a2)   # her own ticket, but she does not work tickets
    assert (a2.status, a2.parent_id, c.parent_id) == ("new", None, None)


def test_no_cycles(session, people, vpn):
    a, b, _ = vpn
    inc = dup.declare_incident(session, people["agent"], title="VPN outage", description="Gateway down",
                               ticket_ids=[a.id], embedder=EMB, now=T0 + timedelta(minutes=30))
    with pytest.raises(ValidationError, match="already grouped"):   # a's root is the incident itself
        dup.mark_duplicate(session, people["agent"], inc, a)
    with pytest.raises(ValidationError, match="incident"):          # an incident never goes under a ticket
        dup.mark_duplicate(session, people["agent"], inc, b)
    assert dup.mark_duplicate(session, people["agent"], b, a) is inc  # flat: under a's root, not under a
    assert b.parent_id == inc.id and inc.parent_id is None


def test_merge_moves_the_conversation_and_people_and_keeps_the_history(session, people, vpn, tmp_path):
    a, b, _ = vpn
    agent = people["agent"]
    reply = add_reply(session, people["bob"], b, "It started at 9:05.", now=T0 + timedelta(minutes=11))
    note = add_reply(session, agent, b, "Gateway logs show resets.", internal=True, now=T0 + timedelta(minutes=12))
    session.add_all([TicketAttachment(ticket_id=b.id, message_id=reply.id, filename="shot.png", stored_name="s1",
                                      content_type="image/png", size=10, sha256="0" * 64),
                     TicketAttachment(ticket_id=b.id, message_id=note.id, filename="gw.log", stored_name="s2",
                                      content_type="text/plain", size=10, sha256="1" * 64, internal=True),
                     TicketFollower(ticket_id=b.id, user_id=people["erin"].id),
                     TicketCollaborator(ticket_id=b.id, user_id=people["agent2"].id)])
    session.flush()
    session.expire(b, ["followers"])
    history_before = [e.id for e in list_events(session, b)]
    dup.merge_tickets(session, agent, b, a, "Merged: same outage.", now=T0 + timedelta(minutes=40))
    assert (b.status, b.merged_into_id, b.parent_id) == ("merged", a.id, a.id)
    assert {m.id for m in session.query(TicketMessage).filter_by(ticket_id=a.id)} == {reply.id, note.id}
    assert session.query(TicketAttachment).filter_by(ticket_id=a.id).count() == 2
    assert {people["bob"].id, people["erin"].id} <= a.follower_ids
    assert session.query(TicketCollaborator).filter_by(ticket_id=a.id, user_id=people["agent2"].id).count() == 1
    assert [e.id for e in list_events(session, b)][:len(history_before)] == history_before  # source history kept
    assert [e.kind for e in list_events(session, b)][-1] == MERGED
    # Alice (the target's requester) sees the public part moved in, not the internal one
    alice_view = [m.id for m in visible_messages(session, people["alice"], a)]
    assert alice_view == [reply.id]
    merged = [e.payload for e in visible_events(session, people["alice"], a) if e.kind == MERGED]
    assert merged == [{"action": "from", "attachments": 1, "messages": 1, "reference": b.reference,
                       "ticket_id": b.id}]
    staff = [e.payload for e in visible_events(session, agent, a) if e.kind == MERGED and e.payload.get("internal")]
    assert staff[0]["internal_messages"] == 1 and staff[0]["internal_attachments"] == 1
    assert any(a.reference in t for t in notes(session, people["erin"], "update"))


# ------------------------------------------------------------------ incidents and the cascade
def test_resolving_an_incident_resolves_its_open_members_and_tells_everyone(session, people, vpn):
    a, b, c = vpn
    agent = people["agent"]
    ticket_work.acknowledge(session, agent, b, planned_actions="Check", expected_completion_at=T0 + timedelta(days=1),
                            now=T0 + timedelta(minutes=15))
    ticket_work.ask_requester(session, agent, b, "Which router?", now=T0 + timedelta(minutes=16))
    assert b.status == "waiting_for_requester"
    inc = dup.declare_incident(session, agent, title="VPN gateway outage", description="Gateway drops sessions",
                               ticket_ids=[a.id, b.id], embedder=EMB, now=T0 + timedelta(minutes=20))
    assert inc.is_incident and (a.parent_id, b.parent_id) == (inc.id, inc.id)
    assert {people["alice"].id, people["bob"].id} <= inc.follower_ids
    assert any("VPN gateway outage" in t for t in notes(session, people["alice"], "update"))
    dup.join_issue(session, people["dave"], inc.id, VPN, EMB, now=T0 + timedelta(minutes=25))
    ticket_work.acknowledge(session, agent, inc, planned_actions="Restart",
                            expected_completion_at=T0 + timedelta(days=1), now=T0 + timedelta(minutes=26))
    ticket_work.resolve(session, agent, inc, "Replaced the gateway's power supply.", now=T0 + timedelta(minutes=60))
    assert (a.status, b.status, c.status) == ("resolved", "resolved", "new")
    assert a.resolution == b.resolution == "Replaced the gateway's power supply."
    auto = [e for e in list_events(session, a) if e.kind == "status" and e.payload.get("auto")]
    assert auto[-1].to_status == "resolved" and inc.reference in auto[-1].payload["reason"]
    assert [e.to_status for e in list_events(session, b) if e.kind == "status"][-1] == "resolved"
    for who, child in (("alice", a), ("bob", b)):
        assert any(child.reference in t for t in notes(session, people[who], "resolved"))
    assert any(inc.reference in t for t in notes(session, people["dave"], "update"))
    assert notes(session, people["carol"], "resolved") == []
    # the child's requester confirms their own ticket as usual
    ticket_work.confirm(session, people["alice"], a, now=T0 + timedelta(hours=2))
    assert a.status == "closed"


def test_incident_permissions_and_members(session, people, vpn):
    a, b, c = vpn
    assert [permissions.can_manage_incidents(people[r]) for r in ("alice", "trainer", "agent", "lead")] == [
        False, False, True, True]
    with pytest.raises(PermissionDenied):
        dup.declare_incident(session, people["alice"], title="x", description="y", ticket_ids=[a.id])
    inc = dup.declare_incident(session, people["agent"], title="Outage", description="All down", embedder=EMB,
                               now=T0 + timedelta(minutes=30))
    assert dup.add_to_incident(session, people["agent"], inc, [a, b]) == [a, b]
    assert dup.add_to_incident(session, people["agent"], inc, [a]) == []           # idempotent
    with pytest.raises(ValidationError, match="not an incident"):
        dup.add_to_incident(session, people["agent"], c, [a])
    c.status = "closed"
    with pytest.raises(ValidationError, match="only open"):
        dup.add_to_incident(session, people["agent"], inc, [c])


@pytest.mark.parametrize("status,path", [
    ("new", ["assigned", "acknowledged", "in_progress", "resolved"]), ("assigned", ["acknowledged", "in_progress",
                                                                                    "resolved"]),
    ("waiting_for_requester", ["resolved"]), ("reopened", ["in_progress", "resolved"]), ("closed", None)])
def test_path_to_resolved_follows_the_table(status, path):
    assert ticket_grouping._path_to_resolved(status) == path


def test_resolve_reference(session, people, vpn):
    a, _, _ = vpn
    agent = people["agent"]
    for text in (a.reference, a.reference.lower(), str(a.id), f"#{a.id}", f"  {a.id:06d} "):
        assert dup.resolve_reference(session, agent, text) is a
    with pytest.raises(ValidationError):
        dup.resolve_reference(session, agent, "VPN ticket")
    with pytest.raises(NotFound):
        dup.resolve_reference(session, agent, f"HD-1999-{a.id:06d}")
    with pytest.raises(NotFound):
        dup.resolve_reference(session, people["bob"], a.reference)


def test_grouping_panel_is_filtered_for_the_viewer(session, people, vpn):
    a, b, _ = vpn
    dup.mark_duplicate(session, people["agent"], b, a)
    staff = dup.grouping_of(session, people["agent"], a)
    assert staff.children == [b] and [u.id for u in staff.followers] == [people["bob"].id]
    bob = dup.grouping_of(session, people["bob"], a)
    assert (bob.children, bob.followers, bob.following) == ([], [], True)
    assert dup.grouping_of(session, people["bob"], b).parent is a
    assert dup.grouping_of(session, people["alice"], a).following is False

"""The ticket lifecycle: the transitions table, the one function that applies it, the
append-only events, and the migration that lets the database hold every status."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kb import ticket_flow as flow
from kb.errors import InvalidTransition, KBError, NotFound, PermissionDenied, ValidationError
from kb.ticket_events import STATUS, ImmutableEventError, TicketEvent, list_events
from kb.tickets import Ticket, create_ticket
from tests.conftest import make_app

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
ALLOWED = [(f, t, roles) for f, targets in flow.TRANSITIONS.items() for t, roles in targets.items()]
NOT_ALLOWED = [(f, t) for f in flow.STATUSES for t in flow.STATUSES if t not in flow.TRANSITIONS[f]]


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"),
            "agent": make_user("agent"), "lead": make_user("lead"),
            "trainer": make_user("trainer"), "admin": make_user("admin")}


@pytest.fixture
def new_ticket(session, people):
    def make():
        ticket = create_ticket(session, people["requester"], title="VPN down", description="It fails.", now=T0)
        session.flush()
        return ticket
    return make


def _put(session, ticket, status):
    """Place a ticket in a status directly (setting up a case, not a transition)."""
    ticket.status = status
    session.flush()


def _status_events(session, ticket):
    return [e for e in list_events(session, ticket) if e.kind == STATUS]


def test_table_is_closed_over_statuses():
    assert set(flow.TRANSITIONS) == set(flow.STATUSES)
    for targets in flow.TRANSITIONS.values():
        for to, roles in targets.items():
            assert to in flow.STATUSES and roles
    for terminal in flow.TERMINAL_STATUSES:  # no person leaves a terminal status
        assert all(roles == flow.SYSTEM for roles in flow.TRANSITIONS[terminal].values())
    assert flow.TRANSITIONS[flow.CLOSED] == {flow.REOPENED: flow.SYSTEM}


def test_happy_path_one_event_per_change(session, people, new_ticket):
    ticket = new_ticket()
    agent, req = people["agent"], people["requester"]
    steps = [(agent, "assigned", ""), (agent, "acknowledged", ""), (agent, "in_progress", ""),
             (agent, "waiting_for_requester", ""), (req, "in_progress", ""), (agent, "resolved", ""),
             (req, "reopened", "Still broken after reboot"), (agent, "in_progress", ""),
             (agent, "resolved", ""), (req, "closed", "")]
    for i, (actor, to, reason) in enumerate(steps, start=1):
        before = ticket.status
        at = T0 + timedelta(minutes=i)
        ev = flow.transition_ticket(session, actor, ticket, to, reason=reason, now=at)
        assert (ev.kind, ev.from_status, ev.to_status, ev.actor_id) == (STATUS, before, to, actor.id)
        assert ticket.status == to and ticket.updated_at == at and ev.created_at == at
    session.commit()
    events = _status_events(session, ticket)
    assert [(e.from_status, e.to_status) for e in events] == [
        (a, b) for a, b in zip(["new"] + [s[1] for s in steps], [s[1] for s in steps])]
    assert events[6].payload == {"reason": "Still broken after reboot"}
    assert session.get(Ticket, ticket.id).status == "closed"


@pytest.mark.parametrize("from_status", flow.STATUSES)
def test_every_transition_not_in_the_table_is_refused(session, people, new_ticket, from_status):
    """One case per source status (an app per pair made the suite slow); the pairs come from the table."""
    ticket = new_ticket()
    _put(session, ticket, from_status)
    refused = [t for f, t in NOT_ALLOWED if f == from_status]
    assert refused, "every status has at least itself as a refused target"
    for to_status in refused:
        for actor in (people["admin"], people["requester"]):
            with pytest.raises(InvalidTransition) as err:
                flow.transition_ticket(session, actor, ticket, to_status, reason="because")
            assert repr(from_status) in str(err.value) and repr(to_status) in str(err.value), to_status
        assert ticket.status == from_status
    assert _status_events(session, ticket) == []


@pytest.mark.parametrize(("from_status", "to_status", "roles"), ALLOWED)
def test_every_transition_in_the_table_checks_the_actor(session, people, new_ticket, from_status, to_status, roles):
    ticket = new_ticket()
    _put(session, ticket, from_status)
    allowed = [k for k in ("agent", "lead", "admin", "trainer") if k in roles]
    if flow.REQUESTER_SELF in roles:
        allowed.append("requester")
    refused = [k for k in ("agent", "lead", "admin", "trainer", "requester") if k not in allowed]
    for key in refused:
        with pytest.raises(PermissionDenied):
            flow.transition_ticket(session, people[key], ticket, to_status, reason="because")
    with pytest.raises(NotFound):  # someone else's ticket: no hint it exists
        flow.transition_ticket(session, people["other"], ticket, to_status, reason="because")
    assert ticket.status == from_status
    if roles == flow.SYSTEM:  # nobody may; only the system moves it (apply_transition)
        assert allowed == []
        flow.apply_transition(session, None, ticket, to_status, data={"reason": "because"})
    else:
        flow.transition_ticket(session, people[allowed[0]], ticket, to_status, reason="because")
    assert ticket.status == to_status
    assert len(_status_events(session, ticket)) == 1


def test_requester_cannot_assign_and_strangers_get_not_found(session, people, new_ticket):
    ticket = new_ticket()
    with pytest.raises(PermissionDenied):
        flow.transition_ticket(session, people["requester"], ticket, "assigned")
    with pytest.raises(NotFound):
        flow.transition_ticket(session, people["other"], ticket, "cancelled", reason="not mine")
    with pytest.raises(NotFound):
        flow.transition_ticket(session, None, ticket, "assigned")
    assert ticket.status == "new"


def test_staff_member_who_filed_the_ticket_acts_as_requester_too(session, make_user):
    agent = make_user("agent")
    ticket = create_ticket(session, agent, title="My laptop", description="Broken screen.", now=T0)
    flow.transition_ticket(session, agent, ticket, "cancelled", reason="Fixed it myself")
    assert ticket.status == "cancelled"


@pytest.mark.parametrize("to_status", ["reopened", "cancelled"])
def test_reopen_and_cancel_need_a_reason(session, people, new_ticket, to_status):
    ticket = new_ticket()
    _put(session, ticket, "resolved" if to_status == "reopened" else "in_progress")
    for blank in ("", "   \n "):
        with pytest.raises(ValidationError) as err:
            flow.transition_ticket(session, people["requester"], ticket, to_status, reason=blank)
        assert err.value.field == "reason"
    ev = flow.transition_ticket(session, people["requester"], ticket, to_status, reason="  It came back  ")
    assert ev.payload == {"reason": "It came back"}


def test_available_transitions(session, people, new_ticket):
    ticket = new_ticket()
    assert flow.available_transitions(people["agent"], ticket) == ["assigned", "merged"]
    assert flow.available_transitions(people["requester"], ticket) == ["cancelled"]
    assert flow.available_transitions(people["trainer"], ticket) == []
    assert flow.available_transitions(people["other"], ticket) == []


ACTORS = ("requester", "other", "agent", "lead", "trainer", "admin")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(ACTORS), st.sampled_from(flow.STATUSES + ("bogus",)), st.booleans()),
                max_size=30))
def test_random_attempts_keep_status_equal_to_last_event(session, people, new_ticket, attempts):
    ticket = new_ticket()
    successes = 0
    for who, to, with_reason in attempts:
        try:
            flow.transition_ticket(session, people[who], ticket, to, reason="why" if with_reason else "")
            successes += 1
        except KBError:
            pass
        assert ticket.status in flow.STATUSES
    session.flush()
    session.expire(ticket)
    events = _status_events(session, ticket)
    assert len(events) == successes
    assert ticket.status == (events[-1].to_status if events else "new")
    for prev, ev in zip(events, events[1:]):
        assert ev.from_status == prev.to_status


def test_events_are_append_only(session, people, new_ticket):
    ticket = new_ticket()
    ev = flow.transition_ticket(session, people["agent"], ticket, "assigned")
    session.commit()

    ev.to_status = "closed"
    with pytest.raises(ImmutableEventError):
        session.flush()
    session.rollback()

    session.delete(ev)
    with pytest.raises(ImmutableEventError):
        session.flush()
    session.rollback()

    with pytest.raises(ImmutableEventError):
        session.execute(update(TicketEvent).where(TicketEvent.id == ev.id).values(kind="note"))
    with pytest.raises(ImmutableEventError):
        session.execute(sa.delete(TicketEvent))
    session.rollback()
    assert session.scalars(select(TicketEvent).where(TicketEvent.kind == "status")).one().to_status == "assigned"


def test_unchanged_event_in_session_does_not_trip_the_guard(session, people, new_ticket):
    ticket = new_ticket()
    ev = flow.transition_ticket(session, people["agent"], ticket, "assigned")
    ev.kind = ev.kind  # same value: not a modification
    flow.transition_ticket(session, people["agent"], ticket, "acknowledged")
    session.commit()


# --- the migration ------------------------------------------------------------------

def _insert_user_and_ticket(conn, status, ticket_id=1, *, before_channels=False):
    conn.exec_driver_sql("INSERT OR IGNORE INTO user (id, email, name, password_hash, role, active, created_at) "
                         "VALUES (1, 'a@example.test', 'A', 'x', 'requester', 1, '2025-01-01 00:00:00')")
    token = ("", "") if before_channels else (", email_token", ", 'abcdef0123'")  # required since 4fad25bb1a36
    conn.exec_driver_sql(f"INSERT INTO ticket (id, title, description, requester_id, status, created_at, updated_at"
                         f"{token[0]}) VALUES ({ticket_id}, 't', 'd', 1, '{status}', '2025-01-01 00:00:00', "
                         f"'2025-01-01 00:00:00'{token[1]})")


def test_migrated_database_allows_the_new_statuses_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _insert_user_and_ticket(conn, "in_progress")
            _insert_user_and_ticket(conn, "waiting_for_requester", ticket_id=2)
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                _insert_user_and_ticket(conn, "bogus", ticket_id=3)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT status FROM ticket ORDER BY id").scalars().all() == [
                "in_progress", "waiting_for_requester"]
    finally:
        engine.dispose()


def test_migration_keeps_rows_that_reference_tickets_and_downgrade_refuses_new_statuses(tmp_path, capfd):
    """SQLite rebuilds ``ticket``; with foreign keys on, that must not cascade-delete children."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    engine = sa.create_engine(url)

    def failures():
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT COUNT(*) FROM deflection_failure").scalar()

    try:
        with app.app_context():
            upgrade(revision="b2957dfed89c")
            with engine.begin() as conn:
                _insert_user_and_ticket(conn, "new", before_channels=True)
                conn.exec_driver_sql("INSERT INTO intake_session (id, token, user_id, started_at, last_activity_at) "
                                     "VALUES (1, 't', 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00')")
                conn.exec_driver_sql("INSERT INTO deflection_failure (session_id, ticket_id, failed_at, rule) "
                                     "VALUES (1, 1, '2025-01-01 00:00:00', 'same_session')")
            upgrade()
            assert failures() == 1
            with engine.begin() as conn:
                conn.exec_driver_sql("UPDATE ticket SET status = 'in_progress'")
            with pytest.raises(SystemExit):  # flask_migrate logs the RuntimeError and exits
                downgrade(revision="b2957dfed89c")
            assert "Cannot downgrade: 1 ticket(s)" in capfd.readouterr().err
            assert "ticket_event" in sa.inspect(engine).get_table_names()
            with engine.begin() as conn:
                conn.exec_driver_sql("UPDATE ticket SET status = 'new'")
            downgrade(revision="b2957dfed89c")
            assert failures() == 1
            with pytest.raises(IntegrityError):
                with engine.begin() as conn:
                    _insert_user_and_ticket(conn, "in_progress", ticket_id=2, before_channels=True)
    finally:
        engine.dispose()

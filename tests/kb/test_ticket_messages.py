"""The conversation on a ticket: who may write what, and internal notes never reach the requester."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from kb import ticket_flow as flow
from kb.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from kb.sla import clock
from kb.ticket_events import AGENT_PUBLIC_REPLY, CREATED, NOTE, REPLY, visible_events
from kb.ticket_events import list_events as _all_events
from kb.ticket_messages import BODY_MAX, add_reply, visible_messages
from kb.tickets import create_ticket, get_ticket


def list_events(session, ticket):
    """The ticket's events after its registration (``created``), which every ticket has."""
    return [e for e in _all_events(session, ticket) if e.kind != CREATED]

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
MARKER = "SECRET-MARKER-42"


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"),
            "agent": make_user("agent"), "trainer": make_user("trainer")}


@pytest.fixture
def ticket(session, people):
    return create_ticket(session, people["requester"], title="Printer jam", description="Third floor.", now=T0)


def test_requester_public_reply(session, people, ticket):
    msg = add_reply(session, people["requester"], ticket, "  Any news?\r\n ", now=T0)
    assert (msg.body, msg.internal, msg.author_id) == ("Any news?", False, people["requester"].id)
    [ev] = list_events(session, ticket)
    assert (ev.kind, ev.payload, ev.actor_id) == (REPLY, {"message_id": msg.id}, people["requester"].id)
    assert ticket.updated_at == T0


def test_requester_cannot_write_internal_notes_or_on_others_tickets(session, people, ticket):
    with pytest.raises(PermissionDenied):
        add_reply(session, people["requester"], ticket, "note to self", internal=True)
    with pytest.raises(NotFound):
        add_reply(session, people["other"], ticket, "hello")
    with pytest.raises(NotFound):
        visible_messages(session, people["other"], ticket)
    with pytest.raises(NotFound):
        visible_events(session, people["other"], ticket)
    assert list_events(session, ticket) == []


def test_staff_public_reply_is_the_sla_first_response_event(session, people, ticket):
    add_reply(session, people["agent"], ticket, "Looking into it.")
    [ev] = list_events(session, ticket)
    assert ev.kind == AGENT_PUBLIC_REPLY == clock.REPLY


def test_staff_internal_note(session, people, ticket):
    msg = add_reply(session, people["agent"], ticket, "Toner supplier is late.", internal=True)
    assert msg.internal
    assert [e.kind for e in list_events(session, ticket)] == [NOTE]


@pytest.mark.parametrize("body", ["", "   ", "\r\n", None, "x" * (BODY_MAX + 1)])
def test_body_length_is_checked(session, people, ticket, body):
    with pytest.raises(ValidationError) as err:
        add_reply(session, people["agent"], ticket, body)
    assert err.value.field == "body"


def test_body_limits_inclusive_and_plain_text_kept(session, people, ticket):
    add_reply(session, people["agent"], ticket, "x")
    raw = "<b>not rendered</b> & *kept as typed*" + "y" * (BODY_MAX - 37)
    assert len(raw) == BODY_MAX
    assert add_reply(session, people["agent"], ticket, raw).body == raw


def test_closed_ticket_takes_no_public_replies_but_notes(session, people, ticket):
    ticket.status = "closed"
    session.flush()
    for who in ("requester", "agent"):
        with pytest.raises(InvalidTransition):
            add_reply(session, people[who], ticket, "one more thing")
    add_reply(session, people["agent"], ticket, "post-mortem", internal=True)


def test_internal_note_marker_never_reaches_the_requester(session, people, ticket):
    agent, req = people["agent"], people["requester"]
    add_reply(session, req, ticket, "It jams again.")
    add_reply(session, agent, ticket, f"Internal: {MARKER} do not tell the user", internal=True)
    add_reply(session, agent, ticket, "We ordered a new printer.")
    flow.transition_ticket(session, agent, ticket, "assigned")
    session.commit()

    def dump(rows):
        return json.dumps([{c.key: str(getattr(r, c.key)) for c in r.__table__.columns} for r in rows])

    staff_view = dump(visible_messages(session, agent, ticket)) + dump(visible_events(session, agent, ticket))
    assert MARKER in staff_view
    assert NOTE in [e.kind for e in visible_events(session, agent, ticket)]

    mine = visible_messages(session, req, ticket)
    events = visible_events(session, req, ticket)
    assert [m.body for m in mine] == ["It jams again.", "We ordered a new printer."]
    assert [e.kind for e in events if e.kind != CREATED] == [REPLY, AGENT_PUBLIC_REPLY, "status"]
    seen = dump(mine) + dump(events) + dump([get_ticket(session, req, ticket.id)])
    assert MARKER not in seen
    # And no event anyone sees carries a body at all.
    assert MARKER not in dump(list_events(session, ticket))


def test_trainer_is_staff_for_reading_and_notes(session, people, ticket):
    add_reply(session, people["agent"], ticket, MARKER, internal=True)
    assert [m.body for m in visible_messages(session, people["trainer"], ticket)] == [MARKER]

"""Tickets (minimal model and services) and honest deflection: a ticket on the same problem
within the window turns a deflection into a failed one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kb import intake, permissions
from kb.deflection import ProblemMatcher
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.intake_models import DEFLECTED, TICKET
from kb.tickets import create_ticket, get_ticket, list_my_tickets
from search import HashEmbedder

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
VPN = "vpn cannot connect from home"
VPN_TICKET = ("VPN cannot connect", "When I work from home the VPN client says connection failed")
PRINTER_TICKET = ("Printer jam", "The printer on the third floor has a paper jam")


@pytest.fixture
def article(make_article):
    return make_article(title="VPN cannot connect", body="Reinstall the client.")


@pytest.fixture
def matcher():
    return ProblemMatcher(HashEmbedder())


def _deflect(session, actor, article, text=VPN):
    token = intake.new_token()
    intake.record_query(session, actor, token, text, [article.id])
    return intake.mark_deflected(session, actor, token, article.id)


def test_create_ticket_minimal_record(session, make_user, time_machine):
    time_machine.move_to(T0, tick=False)
    alice = make_user()
    ticket = create_ticket(session, alice, title="  Laptop is slow ", description="Since Monday\r\nvery slow")
    assert (ticket.title, ticket.description, ticket.status) == ("Laptop is slow", "Since Monday\nvery slow", "new")
    assert ticket.requester is alice and ticket.created_at == T0 and ticket.intake_session is None
    assert ticket.reference == f"HD-2025-{ticket.id:06d}"
    assert ticket.reference.startswith("HD-2025-00000")


@pytest.mark.parametrize("title,description,field", [("", "x", "title"), ("x", "  ", "description"),
                                                     ("x" * 201, "x", "title")])
def test_create_ticket_validates(session, make_user, title, description, field):
    with pytest.raises(ValidationError) as err:
        create_ticket(session, make_user(), title=title, description=description)
    assert err.value.field == field


def test_anonymous_cannot_file(session):
    with pytest.raises(PermissionDenied):
        create_ticket(session, None, title="x", description="y")


def test_tickets_are_for_their_requester_and_staff(session, make_user):
    alice, bob, agent = make_user(), make_user(), make_user("agent")
    mine = create_ticket(session, alice, title="One", description="first")
    later = create_ticket(session, alice, title="Two", description="second", now=mine.created_at + timedelta(1))
    create_ticket(session, bob, title="Bob's", description="other")
    assert get_ticket(session, alice, mine.id) is mine and get_ticket(session, agent, mine.id) is mine
    for outsider in (bob, None):
        with pytest.raises(NotFound):
            get_ticket(session, outsider, mine.id)
    with pytest.raises(NotFound):
        get_ticket(session, alice, 99999)
    assert list_my_tickets(session, alice) == [later, mine]
    assert list_my_tickets(session, None) == []
    assert permissions.can_view_ticket(agent, mine) and not permissions.can_view_ticket(bob, mine)


def test_ticket_from_an_intake_session_ends_it(session, make_user, article):
    alice = make_user()
    token = intake.new_token()
    intake.record_query(session, None, token, "laptop slow", [article.id])
    row = intake.get_intake(session, token)
    ticket = create_ticket(session, alice, title="Laptop slow", description="very", intake=row, now=T0)
    assert ticket.intake_session is row
    assert (row.outcome, row.outcome_at, row.user_id) == (TICKET, T0, alice.id)


def test_someone_elses_intake_session_cannot_be_attached(session, make_user, article):
    alice, bob = make_user(), make_user()
    token = intake.new_token()
    intake.record_query(session, alice, token, "vpn", [article.id])
    with pytest.raises(NotFound):
        create_ticket(session, bob, title="x", description="y", intake=intake.get_intake(session, token))


def test_same_problem_within_window_fails_the_deflection(session, make_user, article, matcher, time_machine):
    time_machine.move_to(T0, tick=False)
    alice = make_user()
    row = _deflect(session, alice, article)
    time_machine.move_to(T0 + timedelta(days=3), tick=False)
    ticket = create_ticket(session, alice, title=VPN_TICKET[0], description=VPN_TICKET[1], matcher=matcher,
                           window_days=7)
    assert row.outcome == DEFLECTED  # the outcome stays what the requester said ...
    failure = row.failure            # ... and the follow-up records that it did not hold
    assert failure.ticket is ticket and failure.failed_at == T0 + timedelta(days=3)
    assert failure.rule == "similar_text" and failure.similarity > 0.55


def test_different_problem_keeps_the_deflection(session, make_user, article, matcher, time_machine):
    time_machine.move_to(T0, tick=False)
    alice = make_user()
    row = _deflect(session, alice, article)
    time_machine.move_to(T0 + timedelta(days=1), tick=False)
    create_ticket(session, alice, title=PRINTER_TICKET[0], description=PRINTER_TICKET[1], matcher=matcher)
    assert row.failure is None


def test_after_the_window_the_deflection_stands(session, make_user, article, matcher, time_machine):
    time_machine.move_to(T0, tick=False)
    alice = make_user()
    row = _deflect(session, alice, article)
    time_machine.move_to(T0 + timedelta(days=7, minutes=1), tick=False)
    create_ticket(session, alice, title=VPN_TICKET[0], description=VPN_TICKET[1], matcher=matcher, window_days=7)
    assert row.failure is None


def test_another_requesters_ticket_does_not_fail_my_deflection(session, make_user, article, matcher):
    alice, bob = make_user(), make_user()
    row = _deflect(session, alice, article)
    anonymous = _deflect(session, None, article)
    create_ticket(session, bob, title=VPN_TICKET[0], description=VPN_TICKET[1], matcher=matcher)
    assert row.failure is None and anonymous.failure is None


def test_ticket_from_the_deflected_session_itself_fails_it(session, make_user, article):
    alice = make_user()
    row = _deflect(session, alice, article)
    ticket = create_ticket(session, alice, title="Still broken", description="the article did not help",
                           intake=row, matcher=None)
    assert row.outcome == DEFLECTED and row.failure.ticket is ticket and row.failure.rule == "same_session"


def test_deflecting_article_among_top_suggestions_counts_as_same_problem(session, make_user, article):
    alice = make_user()
    row = _deflect(session, alice, article, text="cannot reach the intranet from home")
    matcher = ProblemMatcher(HashEmbedder(), suggest=lambda text: [article.id])
    create_ticket(session, alice, title="Intranet unreachable", description="vpn error 809", matcher=matcher)
    assert row.failure.rule == "same_article"

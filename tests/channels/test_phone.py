"""The phone channel: an agent logs a call for a caller found by search or registered as a
contact, and the caller gets the same "received" confirmation as a portal requester."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kb import contacts
from kb.channel_models import OutboundEmail
from kb.errors import PermissionDenied, ValidationError
from kb.ticket_records import Notification
from kb.tickets import Ticket, create_ticket
from kb.users import authenticate


@pytest.fixture
def people(make_user):
    return {"agent": make_user("agent", name="Ada Agent"),
            "caller": make_user("requester", name="Carla Caller", email="carla@example.test"),
            "other": make_user("requester", name="Otto Other")}


def test_a_ticket_filed_on_behalf_belongs_to_the_caller_and_confirms_to_them(session, people):
    ticket = create_ticket(session, people["agent"], requester=people["caller"], channel="phone",
                           title="Printer jams", description="The third-floor printer jams on every page.")
    session.commit()
    assert ticket.requester_id == people["caller"].id and ticket.channel == "phone"
    assert ticket.contact_email == "carla@example.test"
    received = session.scalars(select(Notification).where(Notification.kind == "received")).all()
    assert [n.user_id for n in received] == [people["caller"].id] and ticket.reference in received[0].text
    mail = session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "received")).one()
    assert mail.to_addr == "carla@example.test" and ticket.mail_tag in mail.subject


def test_only_agents_file_for_someone_else(session, people):
    with pytest.raises(PermissionDenied):
        create_ticket(session, people["other"], requester=people["caller"], title="x", description="y")
    assert session.scalar(select(Ticket)) is None


def test_contacts_are_found_or_registered_without_a_usable_password(session, people):
    assert contacts.search_people(session, people["agent"], "carla")[0].id == people["caller"].id
    assert contacts.search_people(session, people["agent"], "c") == []  # too short to search
    assert contacts.search_people(session, people["agent"], "100%_") == []  # wildcards are literal
    with pytest.raises(PermissionDenied):
        contacts.search_people(session, people["other"], "carla")
    new = contacts.create_contact(session, people["agent"], email="Dan@Example.test", name="Dan",
                                  phone="+41 44 555 01 01")
    assert new.is_contact and new.email == "dan@example.test" and new.role == "requester"
    assert authenticate(session, "dan@example.test", "") is None
    assert contacts.search_people(session, people["agent"], "555 01")[0].id == new.id
    with pytest.raises(ValidationError) as exc:
        contacts.create_contact(session, people["agent"], email="carla@example.test", name="Carla again")
    assert exc.value.field == "email"
    same, created = contacts.find_or_create_contact(session, "CARLA@example.test", "Someone Else")
    assert same.id == people["caller"].id and not created and same.name == "Carla Caller"


def test_the_call_page_searches_people_and_files_for_a_chosen_caller(client, login, session, people):
    login(people["agent"])
    page = client.get("/desk/call/")
    assert page.status_code == 200 and "Find the caller" in page.get_data(as_text=True)
    found = client.get("/desk/call/people?q=Carla").get_json()["people"]
    assert [p["email"] for p in found] == ["carla@example.test"]
    resp = client.post("/desk/call/", data={"caller_id": str(found[0]["id"]), "title": "VPN drops",
                                            "description": "VPN disconnects every ten minutes since Monday."})
    assert resp.status_code == 302
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.requester_id == people["caller"].id and ticket.channel == "phone"


def test_the_call_page_registers_a_new_caller_and_keeps_the_form_on_errors(client, login, session, people):
    login(people["agent"])
    resp = client.post("/desk/call/", data={"title": "No email", "description": "Caller gave no details."})
    assert resp.status_code == 400 and "Find the caller, or enter" in resp.get_data(as_text=True)
    assert "Caller gave no details." in resp.get_data(as_text=True)
    resp = client.post("/desk/call/", data={"caller_name": "Eve New", "caller_email": "eve@example.test",
                                            "caller_phone": "+1 555 0100", "title": "Laptop will not boot",
                                            "description": "Black screen after the logo."})
    assert resp.status_code == 302
    ticket = session.scalars(select(Ticket)).one()
    assert ticket.requester.is_contact and ticket.requester.email == "eve@example.test"
    assert ticket.contact_phone == "+1 555 0100"


def test_requesters_cannot_log_calls_or_search_people(client, login, people):
    login(people["other"])
    assert client.get("/desk/call/").status_code == 403
    assert client.get("/desk/call/people?q=carla").status_code == 403

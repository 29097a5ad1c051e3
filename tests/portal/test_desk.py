"""The desk pages: queues with counts, filters, sorting and pages; who may open them; the
workload page and rebalancing through kb.routing.reassign."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from kb.teams import AgentProfile
from kb.ticket_events import TicketEvent
from kb.tickets import Ticket
from tests.conftest import csrf_token_from
from tests.kb.test_queues import NOW, desk, make_ticket, password_hash  # noqa: F401  (shared fixtures)

H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def html_of(client, url, status=200):
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:800]
    return resp.get_data(as_text=True)


def tab_count(html, name):
    match = re.search(rf'href="/desk/{name}"[^>]*>\s*[^<]*<span class="count[^"]*">([\d,]+)</span>', html)
    assert match, f"no tab for {name}"
    return int(match.group(1).replace(",", ""))


def test_desk_redirects_to_my_queue_and_needs_login(client, login, desk):
    assert "/login" in client.get("/desk/").location
    login(desk["ann"])
    resp = client.get("/desk/")
    assert resp.status_code == 302 and resp.location.endswith("/desk/mine")


@pytest.mark.parametrize("url", ["/desk/", "/desk/mine", "/desk/breached", "/desk/workload", "/desk/workload/1"])
def test_requesters_get_403(client, login, desk, url):
    login(desk["requester"])
    assert "The desk is for agents, team leads and admins." in html_of(client, url, 403)


def test_nav_link_only_for_desk_users(client, login, desk):
    login(desk["requester"])
    assert 'href="/desk/"' not in html_of(client, "/tickets/")
    client.post("/logout")
    login(desk["ann"])
    assert 'href="/desk/"' in html_of(client, "/desk/mine")


def test_my_queue_shows_the_ticket_row_and_tab_counts(client, login, desk, make_ticket):
    breached = make_ticket(title="VPN <b>down</b>", assignee="ann", priority="high", due=NOW - 2 * H,
                           breached=NOW - 2 * H)
    soon = make_ticket(title="Mailbox full", assignee="ann", priority="low", due=NOW + 2 * H)
    make_ticket(title="Hidden complaint", assignee="ann", restricted=True)
    make_ticket(title="Unassigned one", status="new")
    login(desk["ann"])
    html = html_of(client, "/desk/mine")
    assert breached.reference in html and f'href="/tickets/{breached.id}"' in html
    assert "VPN &lt;b&gt;down&lt;/b&gt;" in html and "Rita Requester" in html and "Network" in html
    assert 'class="badge prio-high"' in html and "High" in html and "Ann Agent" in html
    assert re.search(r'class="due due-breached">\s*<time[^>]*>breached 2 hours ago</time>', html)
    assert re.search(r'class="due due-breaching">\s*<time[^>]*>in 2 hours</time>', html)
    assert html.index(breached.reference) < html.index(soon.reference)          # breached first
    assert "Hidden complaint" not in html
    assert (tab_count(html, "mine"), tab_count(html, "team"), tab_count(html, "unassigned"),
            tab_count(html, "breaching"), tab_count(html, "breached")) == (2, 3, 1, 1, 1)
    assert 'href="/desk/all_open"' not in html and 'href="/desk/workload"' not in html


def test_lead_sees_restricted_and_all_open(client, login, desk, make_ticket):
    complaint = make_ticket(title="Rude reply from support", assignee="lead", restricted=True)
    login(desk["lead"])
    html = html_of(client, "/desk/all_open")
    assert complaint.reference in html and "Restricted" in html and tab_count(html, "all_open") == 1
    assert 'href="/desk/workload"' in html


def test_unknown_queue_404_bad_sort_and_filters_400_agents_403_on_all_open(client, login, desk):
    login(desk["ann"])
    assert "no queue called &#39;later&#39;" in html_of(client, "/desk/later", 404)
    assert "Cannot sort by &#39;title&#39;" in html_of(client, "/desk/mine?sort=title", 400)
    assert "not an open status" in html_of(client, "/desk/mine?status=closed", 400)
    assert "must be a number" in html_of(client, "/desk/mine?team_id=abc", 400)
    assert "team leads and admins" in html_of(client, "/desk/all_open", 403)


@pytest.mark.parametrize("queue,message", [("mine", "Nothing assigned to you is open"),
                                           ("team", "Your teams have no open tickets"),
                                           ("unassigned", "Every open ticket has someone working on it"),
                                           ("breaching", "No ticket is due within the next 4 hours"),
                                           ("breached", "No open ticket has missed")])
def test_empty_state_per_queue(client, login, desk, queue, message):
    login(desk["ann"])
    assert message in html_of(client, f"/desk/{queue}")


def test_filters_sorting_and_pages_keep_each_other(client, login, desk, make_ticket):
    for i in range(30):
        make_ticket(title=f"Zebra printer {i}", assignee="ann", priority="high" if i % 2 else "low",
                    due=NOW + (i + 5) * H)
    make_ticket(title="Quokka laptop", assignee="ann", priority="high")
    login(desk["ann"])
    html = html_of(client, "/desk/mine?priority=high&q=zebra")
    assert "1–15 of 15 tickets" in html and "Quokka" not in html and "Zebra printer 2<" not in html
    assert '<option value="high" selected>' in html and 'value="zebra"' in html
    # column headers sort and keep the filters; the active one says its direction
    assert re.search(r'aria-sort="ascending">\s*<a href="/desk/mine\?[^"]*dir=desc', html)
    assert re.search(r'href="/desk/mine\?sort=priority&amp;q=zebra&amp;priority=high"', html)
    html = html_of(client, "/desk/mine?priority=low")
    assert "Page 1 of 1" not in html and "1–15 of 15" in html
    html = html_of(client, "/desk/mine")
    assert "1–25 of 31 tickets" in html and "Page 1 of 2" in html
    next_link = re.search(r'href="(/desk/mine\?[^"]*page=2[^"]*)"', html).group(1).replace("&amp;", "&")
    page2 = html_of(client, next_link)
    assert "26–31 of 31 tickets" in page2 and "Zebra printer 29" in page2      # latest due last
    html = html_of(client, "/desk/mine?sort=created&dir=asc&page=2")
    assert "26–31 of 31" in html and "sort=created" in html
    html = html_of(client, "/desk/mine?page=9")
    assert "past the end of the queue" in html and "Go to the first page" in html
    html = html_of(client, "/desk/mine?q=nothing-like-this")
    assert "No tickets in this queue match these filters" in html and "Clear filters" in html


def test_reference_search_finds_one_ticket(client, login, desk, make_ticket):
    t = make_ticket(title="Wifi", assignee="ann")
    make_ticket(title="Other", assignee="ann")
    login(desk["ann"])
    html = html_of(client, f"/desk/mine?q={t.reference}")
    assert "1–1 of 1 tickets" in html and t.reference in html


# -- workload and rebalancing ---------------------------------------------------------------
@pytest.fixture
def overloaded(session, desk, make_ticket):
    session.add(AgentProfile(user_id=desk["ann"].id, capacity=3))
    session.commit()
    tickets = [make_ticket(title=f"Ann {i}", assignee="ann", priority="high", breached=NOW - H if i == 0 else None)
               for i in range(2)]
    make_ticket(title="Bob's", assignee="bob", priority="low")
    return tickets


def test_workload_for_leads(client, login, desk, overloaded):
    login(desk["lead"])
    html = html_of(client, "/desk/workload")
    assert html.index("Ann Agent") < html.index("Bob Agent")                  # busiest first
    row = re.search(r"<tr>\s*<td>Ann Agent</td>(.*?)</tr>", html, re.S).group(1)
    assert "<td>2</td>" in row and "<td>6</td>" in row and "<td>3</td>" in row and "200 %" in row
    assert '<meter' in row and 'class="overloaded"' in row and 'class="due-breached">1<' in row
    assert f'href="/desk/workload/{desk["ann"].id}">Rebalance' in row
    html = html_of(client, f"/desk/workload?team_id={desk['apps'].id}")
    assert "Cy Agent" in html and "Ann Agent" not in html
    assert "must be a number" in html_of(client, "/desk/workload?team_id=x", 400)


def test_agents_cannot_see_workload_or_rebalance(client, login, desk, overloaded):
    login(desk["ann"])
    html_of(client, "/desk/workload", 403)
    html_of(client, f"/desk/workload/{desk['ann'].id}", 403)
    resp = client.post(f"/desk/workload/{desk['ann'].id}/reassign",
                       data={"ticket_id": overloaded[0].id, "assignee_id": desk["bob"].id, "reason": "mine now"})
    assert resp.status_code == 403


def test_rebalance_moves_a_ticket_with_a_reason(client, login, desk, overloaded, session):
    login(desk["lead"])
    html = html_of(client, f"/desk/workload/{desk['ann'].id}")
    assert overloaded[0].reference in html and overloaded[1].reference in html
    assert f'<option value="{desk["bob"].id}"' in html and f'<option value="{desk["ann"].id}"' not in html
    resp = client.post(f"/desk/workload/{desk['ann'].id}/reassign",
                       data={"ticket_id": overloaded[1].id, "assignee_id": desk["bob"].id, "reason": "Ann is full"})
    assert resp.status_code == 302 and resp.location.endswith(f"/desk/workload/{desk['ann'].id}")
    session.expire_all()
    assert session.get(Ticket, overloaded[1].id).assignee_id == desk["bob"].id
    event = session.query(TicketEvent).filter_by(ticket_id=overloaded[1].id, kind="assigned").one()
    assert event.actor_id == desk["lead"].id and "Ann is full" in (event.data or "")
    html = html_of(client, resp.location)
    assert f"{overloaded[1].reference} is now with Bob Agent" in html
    assert f'id="ticket-{overloaded[0].id}"' in html and f'id="ticket-{overloaded[1].id}"' not in html


@pytest.mark.parametrize("data,message", [({"reason": ""}, "Give a reason"),
                                          ({"assignee_id": ""}, "Choose who takes it"),
                                          ({"assignee_id": "cy"}, "is not an agent or lead of Network")])
def test_rebalance_errors_keep_what_was_typed(client, login, desk, overloaded, session, data, message):
    login(desk["lead"])
    form = {"ticket_id": overloaded[0].id, "assignee_id": desk["bob"].id, "reason": "Too much for Ann"}
    form.update({k: (desk[v].id if v in desk else v) for k, v in data.items()})
    resp = client.post(f"/desk/workload/{desk['ann'].id}/reassign", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and message in html
    if form["reason"]:
        assert 'value="Too much for Ann"' in html
    session.expire_all()
    assert session.get(Ticket, overloaded[0].id).assignee_id == desk["ann"].id
    assert session.query(TicketEvent).filter_by(ticket_id=overloaded[0].id).count() == 0


def test_rebalance_of_an_unknown_agent_or_hidden_ticket(client, login, desk, overloaded):
    login(desk["lead"])
    assert "not an agent in any team" in html_of(client, f"/desk/workload/{desk['requester'].id}", 404)
    resp = client.post(f"/desk/workload/{desk['ann'].id}/reassign",
                       data={"ticket_id": 999999, "assignee_id": desk["bob"].id, "reason": "x"})
    assert resp.status_code == 404


def test_rebalance_needs_csrf(csrf_app, desk, overloaded, session):
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": desk["lead"].email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(page)})
    url = f"/desk/workload/{desk['ann'].id}/reassign"
    form = {"ticket_id": overloaded[0].id, "assignee_id": desk["bob"].id, "reason": "r"}
    assert client.post(url, data=form).status_code == 400
    token = csrf_token_from(client.get(f"/desk/workload/{desk['ann'].id}").get_data(as_text=True))
    assert client.post(url, data=dict(form, csrf_token=token)).status_code == 302


def test_chinese_interface_renders_due_times(client, login, desk, make_ticket, session):
    desk["ann"].locale = "zh"
    session.commit()
    make_ticket(assignee="ann", due=NOW + 2 * H)
    login(desk["ann"])
    html = html_of(client, "/desk/mine")
    assert 'lang="zh-Hans"' in html and re.search(r'class="due due-breaching">\s*<time[^>]*>2\s*小时', html)

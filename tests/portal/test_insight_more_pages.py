"""The insights pages beyond the overview: service levels and satisfaction, self-service,
recurring problems and people; their rights, CSVs and empty states."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from kb import intake, surveys, ticket_work as work
from kb.db import utcnow
from kb.sla.models import seed_sla_defaults
from kb.taxonomy import get_category
from kb.tickets import create_ticket
from search.embedders import HashEmbedder

PAGES = ("/insights/service", "/insights/self-service", "/insights/problems", "/insights/people")


@pytest.fixture
def history(session, make_user, make_article):
    """Resolved, surveyed and breached tickets, a deflection and two unanswered questions."""
    seed_sla_defaults(session)
    agent, alice = make_user("agent"), make_user()
    article = make_article(title="Fix the office printer", author=agent)
    session.commit()
    start = utcnow() - timedelta(days=5)
    for i, title in enumerate(("printer jams on tray two", "printer tray two jams", "tray two printer jam")):
        t = create_ticket(session, alice, title=title, description=title, now=start + timedelta(hours=i),
                          category_id=get_category(session, "hardware").id, impact="all", urgency="stopped",
                          embedder=HashEmbedder(), route=False)
        work.take(session, agent, t, now=start + timedelta(hours=i, minutes=1))
        work.acknowledge(session, agent, t, planned_actions="Look.", expected_completion_at=start + timedelta(days=1),
                         now=start + timedelta(hours=i, minutes=2))
        work.reply(session, agent, t, "On my way.", now=start + timedelta(hours=i, minutes=5 + 30 * i))
        work.resolve(session, agent, t, "Cleared the tray.", now=start + timedelta(hours=i + 1))
        work.confirm(session, alice, t, now=start + timedelta(hours=i + 2))
        surveys.submit_survey(session, alice, t, speed=2 + i, effectiveness=4, communication=5,
                              now=start + timedelta(hours=i + 3))
    token = intake.new_token()
    intake.record_query(session, alice, token, "printer jam", [article.id], now=start)
    intake.mark_deflected(session, alice, token, article.id, now=start + timedelta(minutes=1))
    for text in ("parking badge renewal", "renew my parking badge"):
        intake.record_query(session, alice, intake.new_token(), text, [], now=start)
    intake.sweep_abandoned(session, now=utcnow())
    session.commit()
    return {"agent": agent, "alice": alice}


def test_each_page_draws_its_figures(client, login, make_user, history):
    login(make_user("lead"))
    html = client.get("/insights/service").get_data(as_text=True)
    assert 'data-testid="chart-response"' in html and 'class="target"' in html and "<polyline" in html
    assert 'data-testid="chart-breaches"' in html and "First response within target" in html
    assert "Satisfaction per agent" in html and history["agent"].name in html
    html = client.get("/insights/self-service").get_data(as_text=True)
    assert "Fix the office printer" in html and "parking badge" in html and 'data-testid="chart-sessions"' in html
    html = client.get("/insights/problems").get_data(as_text=True)
    assert "printer" in html and "Draft an article from 3 resolved tickets" in html and "csrf_token" in html
    html = client.get("/insights/people").get_data(as_text=True)
    assert 'data-testid="accountability"' in html and "First response late" in html
    assert 'data-testid="recognition"' in html and history["agent"].name in html


def test_an_agent_sees_only_their_own_figures(client, login, make_user, history):
    other = make_user("agent")
    login(other)
    for page in PAGES[:3]:
        assert client.get(page).status_code == 403
    html = client.get("/insights/people").get_data(as_text=True)
    assert "My performance" in html and history["agent"].name not in html and "Accountability" not in html
    login(history["agent"])
    html = client.get("/insights/people").get_data(as_text=True)
    assert history["agent"].name in html and "data-testid=\"recognition\"" not in html
    rows = list(csv.reader(io.StringIO(client.get("/insights/people.csv").get_data(as_text=True))))
    assert len(rows) == 2 and rows[1][0] == history["agent"].name and rows[1][1] == "3"
    assert client.get("/insights/accountability.csv").status_code == 403
    login(history["alice"])
    assert client.get("/insights/people").status_code == 403


def test_csvs_and_unknown_names(client, login, make_user, history):
    login(make_user("admin"))
    for name in ("sla", "satisfaction", "self-service", "problems", "people", "accountability"):
        resp = client.get(f"/insights/{name}.csv")
        assert resp.status_code == 200 and resp.mimetype == "text/csv", name
    sla = list(csv.reader(io.StringIO(client.get("/insights/sla.csv").get_data(as_text=True))))
    high = next(r for r in sla if r[:2] == ["response", "high"])
    assert high[2] == "15.0" and high[3] == "3" and high[6:8] == ["1", "2"]
    assert client.get("/insights/nothing.csv").status_code == 404


def test_empty_states(client, login, make_user):
    login(make_user("lead"))
    for page, text in (("/insights/service", "No clock stopped in this view."),
                       ("/insights/self-service", "Nobody used Get help in this period."),
                       ("/insights/problems", "No problem came up three times or more"),
                       ("/insights/people", "Nothing was late in this view.")):
        resp = client.get(page)
        assert resp.status_code == 200 and text in resp.get_data(as_text=True), page

"""The insights dashboard: SVG charts with their numbers and CSV, filters, rights; the chart geometry."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from kb.db import utcnow
from kb.insights import Chart
from kb.taxonomy import get_category
from kb.tickets import create_ticket
from portal.charts import nice_max, stacked_bars


@pytest.fixture
def filed(session, make_user):
    alice = make_user()
    for days, slug, channel in ((1, "network", "email"), (1, "network", "portal"), (3, "hardware", "phone")):
        create_ticket(session, alice, title="Broken", description="It is broken.", channel=channel,
                      now=utcnow() - timedelta(days=days), category_id=get_category(session, slug).id, route=False)
    session.commit()


def test_the_dashboard_draws_both_charts(client, login, make_user, filed):
    login(make_user("lead"))
    resp = client.get("/insights/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("role=\"img\"") == 3 and 'data-testid="chart-volume"' in html and 'data-testid="chart-backlog"' in html
    assert 'data-testid="chart-triage"' in html and "Suggestion kept" in html
    assert html.count("<rect") >= 4  # two days with tickets in the volume chart, two age buckets in the backlog
    assert "Network connectivity" in html and "3 tickets" in html
    assert "<details class=\"numbers\">" in html and "/insights/volume.csv?" in html
    assert 'data-testid="indicators"' in html and "Resolution rate" in html and "0 of 3 tickets filed" in html
    by_channel = client.get("/insights/?by=channel").get_data(as_text=True)
    assert "Phone" in by_channel and "Email" in by_channel


def test_csv_exports_the_numbers(client, login, make_user, filed):
    login(make_user("admin"))
    resp = client.get("/insights/volume.csv?by=channel")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["", "portal", "phone", "email", "total"] and len(rows) == 32
    assert sum(int(r[-1]) for r in rows[1:]) == 3
    indicators = list(csv.reader(io.StringIO(client.get("/insights/indicators.csv").get_data(as_text=True))))
    assert indicators[1] == ["tickets filed", "3", ""] and indicators[2] == ["resolution rate", "0.0", "3"]
    backlog = list(csv.reader(io.StringIO(client.get("/insights/backlog.csv").get_data(as_text=True))))
    assert backlog[1][0] == "under 1 day" and sum(int(r[-1]) for r in backlog[1:]) == 3


def test_filters_and_bad_input(client, login, make_user, filed, session):
    login(make_user("lead"))
    hardware = get_category(session, "hardware").id
    html = client.get(f"/insights/?category={hardware}").get_data(as_text=True)
    assert "1 ticket" in html and "Network connectivity" not in html.split("chart-volume")[1].split("</figure>")[0]
    assert client.get("/insights/?channel=pigeon").status_code == 400
    assert client.get("/insights/?by=mood").status_code == 400
    assert client.get("/insights/?since=2020-01-01&until=2026-01-01").status_code == 400
    assert client.get("/insights/?since=yesterday").status_code == 400
    assert client.get("/insights/other.csv").status_code == 404
    triage = list(csv.reader(io.StringIO(client.get("/insights/triage.csv").get_data(as_text=True))))
    assert triage[0] == ["", "kept", "changed by the requester", "corrected by staff", "total"]
    assert [r[0] for r in triage[1:]] == ["Category", "Priority", "Team"]
    empty = client.get("/insights/?since=2020-01-01&until=2020-01-31").get_data(as_text=True)
    assert "No tickets in this view." in empty


def test_only_leads_and_admins(client, login, make_user):
    assert client.get("/insights/").status_code == 302  # to the login page
    login(make_user("agent"))
    assert client.get("/insights/").status_code == 403
    assert client.get("/insights/volume.csv").status_code == 403


def test_geometry_stacks_and_scales():
    assert [nice_max(v) for v in (0, 1, 3, 7, 11, 45, 101)] == [1, 1, 5, 10, 20, 50, 200]
    chart = Chart(labels=["a", "b"], series=[("x", [2, 0]), ("y", [3, 1])])
    drawn = stacked_bars(chart, width=200, height=100)
    assert len(drawn.bars) == 3 and not drawn.empty  # no rectangle for a zero
    left, top, right, bottom = drawn.plot
    first_x, first_y = [b for b in drawn.bars if b.title.startswith("a · x")][0], [b for b in drawn.bars
                                                                                    if b.title.startswith("a · y")][0]
    assert first_x.y + first_x.h == pytest.approx(bottom) and first_y.y + first_y.h == pytest.approx(first_x.y)
    assert first_y.y == pytest.approx(top)  # 5 of a nice maximum of 5 reaches the top
    assert stacked_bars(Chart(labels=["a"], series=[])).empty

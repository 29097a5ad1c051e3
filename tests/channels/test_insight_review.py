"""The periodic review: built from the week's figures against the week before, with the
actions they suggest; kept once per period; mailed to the leads over a real SMTP server
(HTML part and CSV attached, each lead in their language); the archive pages, their rights,
the CSV; ``flask insights report``."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from kb import intake, surveys, ticket_work as work
from kb.errors import PermissionDenied, ValidationError
from kb.insight_review import InsightReview, build_review, due_periods, period_bounds, suggest_actions, Review
from kb.sla.models import seed_sla_defaults
from kb.taxonomy import get_category
from kb.teams import Team, TeamMember
from kb.tickets import create_ticket
from search.embedders import HashEmbedder
from tests.channels.smtp_fixture import deliver

EMB = HashEmbedder()
MARKER = "ZQX-note-only-7d1"  # in an internal note: never in a review
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)  # a Monday: the week of 23-29 November has ended
WEEK = NOW - timedelta(days=6)                              # Tuesday 24 November
VPN = ["vpn disconnects after the laptop sleeps", "vpn keeps disconnecting after sleep",
       "after sleep the vpn disconnects again", "the vpn disconnects after my laptop sleeps"]


def test_period_bounds_are_the_last_complete_week_or_month():
    assert period_bounds("week", date(2026, 11, 30)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert period_bounds("week", date(2026, 12, 6)) == (date(2026, 11, 23), date(2026, 11, 29))  # a Sunday
    assert period_bounds("month", date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period_bounds("month", date(2026, 3, 31)) == (date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ValidationError):
        period_bounds("year", date(2026, 1, 1))


@pytest.fixture
def week(session, make_user):
    """A team whose week had a growing problem with no article, late first responses, a poor
    rating and an unanswered question asked three times; the week before was quieter."""
    seed_sla_defaults(session)
    lead = make_user("lead", name="Leo Lead")
    lead_zh = make_user("lead", name="Li Lead", locale="zh")
    agent, alice = make_user("agent", name="Sam Agent"), make_user()
    team = Team(name="Desk", lead_id=lead.id)
    session.add(team)
    session.flush()
    session.add(TeamMember(team_id=team.id, user_id=agent.id))
    network = get_category(session, "network").id
    for i, title in enumerate(VPN):
        at = WEEK + timedelta(hours=5 * i)
        t = create_ticket(session, alice, title=title, description=title, category_id=network, impact="all",
                          urgency="stopped", route=False, embedder=EMB, now=at)
        t.team_id = team.id
        work.take(session, agent, t, now=at + timedelta(minutes=40))  # the 15-minute response target is missed
        work.acknowledge(session, agent, t, planned_actions="Check the VPN client.",
                         expected_completion_at=at + timedelta(days=1), now=at + timedelta(minutes=41))
        work.reply(session, agent, t, f"Internal: {MARKER} the VPN concentrator is flaky", internal=True,
                   now=at + timedelta(minutes=50))
        work.resolve(session, agent, t, "Turned off the adapter's power saving.", now=at + timedelta(hours=2))
        work.confirm(session, alice, t, now=at + timedelta(hours=3))
        if i == 0:
            surveys.submit_survey(session, alice, t, speed=1, effectiveness=2, communication=3,
                                  comment="It took far too long.", now=at + timedelta(hours=4))
    before = create_ticket(session, alice, title=VPN[0], description=VPN[0], category_id=network, route=False,
                           embedder=EMB, now=WEEK - timedelta(days=7))
    before.team_id = team.id
    for i, text in enumerate(("book a meeting room for visitors", "how do I book a meeting room",
                              "meeting room booking for visitors")):
        intake.record_query(session, alice, intake.new_token(), text, [], now=WEEK + timedelta(hours=i))
    intake.sweep_abandoned(session, now=NOW)
    session.commit()
    return {"lead": lead, "lead_zh": lead_zh, "agent": agent, "alice": alice, "team": team}


def test_the_review_compares_the_week_and_suggests_actions(session, week):
    review = build_review(session, week["lead"], "week", today=NOW.date(), embedder=EMB, now=NOW)
    assert (review.since, review.until) == ("2026-11-23", "2026-11-29")
    assert (review.previous_since, review.previous_until) == ("2026-11-16", "2026-11-22")
    filed = review.figure("tickets filed")
    assert (filed.current, filed.previous, filed.change) == (4, 1, 3)
    response = review.figure("response target met")
    assert response.current == 0.0 and response.basis == 4 and response.verdict == ""  # nothing to compare with
    assert review.figure("satisfaction: response speed").current == 1.0
    [problem] = review.problems
    assert problem["count"] == 4 and problem["previous"] == 1 and problem["trend"] == "growing"
    assert problem["article"] is None and len(problem["draft_ids"]) == 4
    assert review.sla_areas[0] == {"team": "Desk", "team_id": week["team"].id, "clock": "response", "met": 0,
                                   "missed": 4, "compliance": 0.0}
    [low] = review.low_ratings
    assert low["ratings"] == [1, 2, 3] and low["agent"] == "Sam Agent" and low["comment"] == "It took far too long."
    assert review.gaps and review.gaps[0]["sessions"] == 3 and "meeting room" in review.gaps[0]["query"]
    kinds = [a["kind"] for a in review.actions]
    assert kinds[0] == "draft_article" and {"sla_area", "content_gap"} <= set(kinds)
    assert Review.from_json(review.to_json()) == review  # kept as JSON, read back the same
    rows = review.rows()
    assert ["indicator", "tickets filed", 4, 1, 3, ""] in rows
    assert any(r[0] == "action" and r[1] == "draft_article" for r in rows)


def test_only_leads_and_admins_build_reviews(session, week):
    with pytest.raises(PermissionDenied):
        build_review(session, week["agent"], "week", today=NOW.date())


def test_quiet_numbers_suggest_nothing():
    quiet = Review(kind="week", since="2026-11-23", until="2026-11-29", previous_since="2026-11-16",
                   previous_until="2026-11-22", created_at="2026-11-30T08:00:00")
    assert suggest_actions(quiet) == []


def test_the_worker_publishes_the_due_review_once_and_mails_it(app, session, smtp_server, week):
    from portal.insight_review import publish_due_reviews

    smtp_server.configure(app, BASE_URL="https://help.example", REVIEW_PERIODS="week,month")
    session.commit()
    assert publish_due_reviews(app, embedder=EMB, now=NOW) == 2  # the week, and October
    assert publish_due_reviews(app, embedder=EMB, now=NOW) == 0  # once per period
    assert due_periods(session, ["week", "month"], NOW.date()) == []
    rows = session.query(InsightReview).order_by(InsightReview.kind).all()
    assert [(r.kind, r.since.isoformat(), r.recipients) for r in rows] == [("month", "2026-10-01", 2),
                                                                          ("week", "2026-11-23", 2)]
    assert deliver(app)["failed"] == 0
    leads = {week["lead"].email, week["lead_zh"].email}
    reviews = [m for m in smtp_server.messages if m.rcpt_tos[0] in leads]
    assert len(reviews) == 4
    weekly = [m for m in reviews if "2026-11-23" in m.message["Subject"]]
    assert sorted(m.rcpt_tos[0] for m in weekly) == sorted([week["lead"].email, week["lead_zh"].email])
    mail = next(m for m in weekly if m.rcpt_tos == [week["lead"].email])
    assert mail.message["Subject"] == "Weekly review, 2026-11-23 to 2026-11-29"
    mail_zh = next(m for m in weekly if m.rcpt_tos == [week["lead_zh"].email])
    assert mail_zh.message["Subject"] == "每周回顾，2026-11-23 至 2026-11-29"  # each lead in their language
    assert "建议的行动" in mail_zh.html() and "尚无文章：请起草一篇" in mail_zh.text()
    text = mail.text()
    assert "Tickets filed: 4 (+3)" in text and "no article: draft one" in text
    review_id = next(r.id for r in rows if r.kind == "week")
    assert f"https://help.example/insights/reviews/{review_id}" in text
    html = mail.html()
    assert "Suggested actions" in html and "vpn" in html.lower() and "It took far too long." in html
    assert f'href="https://help.example/tickets/' in html and "<script" not in html
    assert all(MARKER not in m.message.as_string() for m in reviews)
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename() == "review-week-2026-11-23.csv"
    table = list(csv.reader(io.StringIO(attachment.get_content())))
    assert ["indicator", "tickets filed", "4", "1", "3", ""] in table


def test_review_pages_are_for_leads_with_the_csv(app, session, client, login, week):
    from portal.insight_review import publish_review

    app.config["REVIEW_PERIODS"] = "week"
    row = publish_review("week", today=NOW.date(), embedder=EMB, now=NOW)
    with pytest.raises(ValidationError):
        publish_review("week", today=NOW.date(), embedder=EMB, now=NOW)
    login(week["agent"])
    assert client.get("/insights/reviews").status_code == 403
    assert client.get(f"/insights/reviews/{row.id}").status_code == 403
    client.post("/logout")
    login(week["lead"])
    page = client.get("/insights/reviews")
    assert page.status_code == 200 and f"/insights/reviews/{row.id}" in page.text and "2026-11-23" in page.text
    page = client.get(f"/insights/reviews/{row.id}")
    assert page.status_code == 200 and "Suggested actions" in page.text and "Draft an article" in page.text
    assert client.get("/insights/reviews/999999").status_code == 404
    data = client.get(f"/insights/reviews/{row.id}.csv")
    assert data.status_code == 200 and data.mimetype == "text/csv" and "tickets filed" in data.text


def test_the_report_command_writes_html_and_csv(app, session, week, tmp_path):
    session.commit()  # the command runs with the app's hash embedder (tests/conftest.py)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["insights", "report", "--period", "week", "--date", "2026-11-30", "--no-send",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, (result.output, result.exc_info)
    assert (tmp_path / "review-week-2026-11-23.html").read_text().count("<h2>") >= 5
    assert "tickets filed" in (tmp_path / "review-week-2026-11-23.csv").read_text()
    assert "draft one" in result.output
    assert session.query(InsightReview).count() == 0  # --no-send keeps nothing
    result = runner.invoke(args=["insights", "report", "--period", "week", "--date", "2026-11-30",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0 and "mailed to 2 leads" in result.output
    result = runner.invoke(args=["insights", "report", "--period", "week", "--date", "2026-11-30",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0 and "reviewed already" in result.output
    bad = runner.invoke(args=["insights", "report", "--date", "30/11/2026"])
    assert bad.exit_code != 0 and "not a day" in bad.output

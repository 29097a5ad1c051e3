"""The collections pages: curators build, publish and assign; learners follow "My learning",
open steps and mark them done; the print view; navigation; CSRF."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kb import collections as col
from kb import learning
from kb.articles import insert_article, update_article, validate_fields
from kb.loop_models import Collection, CollectionAssignment, LearningProgress
from kb.teams import Team, TeamMember
from tests.conftest import csrf_token_from

BODY = ("# Follow-Me printing\n\nPrint to the Contoso-FollowMe queue and collect the pages at any printer "
        "with your badge.\n\n## Windows\n\n1. Open Company Portal.\n2. Install Follow-Me Printing.\n")


@pytest.fixture
def setup(session, make_user):
    trainer, lead, learner, requester = make_user("trainer"), make_user("lead"), make_user("agent"), \
        make_user("requester")
    team = Team(name="Service Desk")
    session.add(team)
    session.flush()
    session.add(TeamMember(team_id=team.id, user_id=learner.id))

    def publish(title, body=BODY):
        return insert_article(session, lead, validate_fields(session, title=title, body=body, category="hardware"),
                              status="published", note="Created")
    a1 = publish("Add a network printer")
    a2 = publish("Scan to email", body="Scan on any printer and choose **Scan to me**.\n\n"
                                       "<script>alert(1)</script>")
    session.commit()
    return {"trainer": trainer, "lead": lead, "learner": learner, "requester": requester, "team": team,
            "a1": a1, "a2": a2}


def built(session, s, status="published"):
    c = col.create_collection(session, s["trainer"], title="Printing basics", intro="Read **in order**.",
                              audience_roles="agent")
    sec = col.add_section(session, s["trainer"], c, "First week")
    col.add_item(session, s["trainer"], sec, s["a1"].id, note="Start with Windows.")
    col.add_item(session, s["trainer"], sec, s["a2"].id)
    if status == "published":
        col.set_collection_status(session, s["trainer"], c, "published")
    session.commit()
    return c


def test_navigation_links(client, login, session, setup):
    login(setup["trainer"])
    html = client.get("/kb/").get_data(as_text=True)
    assert 'href="/collections/"' in html and 'href="/learning/"' in html
    client.post("/logout")
    login(setup["requester"])
    html = client.get("/kb/").get_data(as_text=True)
    assert 'href="/learning/"' not in html and 'href="/collections/"' not in html
    assert client.get("/collections/").headers["Location"].endswith("/learning/")
    c = built(session, setup)
    c.audience_roles = "agent,requester"
    learning.assign_collection(session, setup["trainer"], c, user=setup["requester"])
    session.commit()
    assert 'href="/learning/"' in client.get("/kb/").get_data(as_text=True)


def test_anonymous_visitors_log_in_first(client, session, setup):
    c = built(session, setup)
    for path in ("/collections/", f"/collections/{c.id}", "/learning/", f"/collections/{c.id}/print"):
        assert client.get(path).status_code == 302


def test_a_trainer_builds_publishes_and_assigns(client, login, session, setup, index_now):
    login(setup["trainer"])
    resp = client.post("/collections/", data={"title": "Printing basics", "intro": "Hello"})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "at least one role or a team" in page and 'value="Printing basics"' in page  # nothing lost
    resp = client.post("/collections/", data={"title": "Printing basics", "audience_roles": ["agent"]})
    c = session.scalar(select(Collection))
    assert resp.headers["Location"].endswith(f"/collections/{c.id}/edit")
    client.post(f"/collections/{c.id}/sections", data={"title": "First week", "intro": "The basics."})
    sec = col.sections(session, c)[0]
    index_now()
    page = client.get(f"/collections/{c.id}/edit?q=network+printer").get_data(as_text=True)
    results = page[page.index('data-testid="search-results"'):page.index('id="suggestions"')]
    assert "Add a network printer" in results
    client.post(f"/collections/{c.id}/items", data={"section_id": sec.id, "article_id": setup["a1"].id,
                                                     "note": "Start here"})
    page = client.get(f"/collections/{c.id}/edit").get_data(as_text=True)
    suggestions = page[page.index('data-testid="suggestions"'):]
    assert "Scan to email" in suggestions and "Add a network printer" not in suggestions
    resp = client.post(f"/collections/{c.id}/items", data={"section_id": sec.id, "article_id": setup["a1"].id})
    assert "already in this collection" in client.get(resp.headers["Location"]).get_data(as_text=True)
    client.post(f"/collections/{c.id}/status", data={"status": "published"})
    assert session.get(Collection, c.id).status == "published"
    resp = client.post(f"/collections/{c.id}/assign", data={"team_id": str(setup["team"].id), "due": "2031-05-01"})
    assert resp.status_code == 303
    a = session.scalar(select(CollectionAssignment))
    assert a.team_id == setup["team"].id and a.due_at.isoformat().startswith("2031-05-01T23:59")
    resp = client.post(f"/collections/{c.id}/assign", data={"email": "nobody@example.test"})
    assert resp.status_code == 400 and "Nobody has the email" in resp.get_data(as_text=True)
    page = client.get(f"/collections/{c.id}/progress").get_data(as_text=True)
    assert setup["learner"].name in page and "Not started" in page


def test_learners_cannot_curate(client, login, session, setup):
    c = built(session, setup)
    draft = built(session, setup, status="draft")
    login(setup["learner"])
    assert client.get(f"/collections/{c.id}").status_code == 200
    assert client.get(f"/collections/{draft.id}").status_code == 404
    for path in (f"/collections/{c.id}/edit", f"/collections/{c.id}/assign", f"/collections/{c.id}/progress"):
        assert client.get(path).status_code == 403
    assert client.post(f"/collections/{c.id}/status", data={"status": "draft"}).status_code == 403
    assert session.get(Collection, c.id).status == "published"


def test_a_learner_opens_and_completes_steps(client, login, session, setup):
    c = built(session, setup)
    learning.assign_collection(session, setup["trainer"], c, team=setup["team"])
    session.commit()
    login(setup["learner"])
    page = client.get("/learning/").get_data(as_text=True)
    assert "Printing basics" in page and "0%" in page
    page = client.get(f"/collections/{c.id}").get_data(as_text=True)
    assert "Start with Windows." in page and "<strong>in order</strong>" in page
    resp = client.post(f"/collections/{c.id}/steps/{setup['a1'].id}/open")
    assert resp.headers["Location"].endswith(f"/kb/{setup['a1'].id}")
    client.post(f"/collections/{c.id}/steps/{setup['a1'].id}/done")
    page = client.get("/learning/").get_data(as_text=True)
    assert "50%" in page
    client.post(f"/collections/{c.id}/steps/{setup['a2'].id}/done")
    assert "100%" in client.get("/learning/").get_data(as_text=True)
    assert client.post(f"/collections/{c.id}/steps/99999/done").status_code == 404

    # a material change: the step is marked, and the learner is told with the note
    update_article(session, setup["lead"], setup["a1"], title=setup["a1"].title, category="hardware",
                   body=BODY + "\n## Mac\n\n1. Open Self Service.\n", note="Added the Mac steps")
    session.commit()
    page = client.get(f"/collections/{c.id}").get_data(as_text=True)
    assert "Changed since you completed it" in page and f"/kb/{setup['a1'].id}/diff?from=1&amp;to=2" in page
    assert "Added the Mac steps" in client.get("/notifications/").get_data(as_text=True)
    assert "50%" in client.get("/learning/").get_data(as_text=True)


def test_the_print_view_is_one_sanitised_document(client, login, session, setup):
    c = built(session, setup)
    login(setup["learner"])
    page = client.get(f"/collections/{c.id}/print").get_data(as_text=True)
    assert "css/collections.css" in page and "js/collections.js" in page
    assert '<h1>Follow-Me printing</h1>' in page and "<strong>Scan to me</strong>" in page
    assert "<script>alert" not in page
    assert page.index("Add a network printer") < page.index("Scan to email")
    assert "Start with Windows." in page


def test_progress_posts_need_the_csrf_token(csrf_app, session, setup):
    c = built(session, setup)
    client = csrf_app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": setup["learner"].email, "password": "correct-horse-battery",
                                "csrf_token": csrf_token_from(login_page)})
    done = f"/collections/{c.id}/steps/{setup['a1'].id}/done"
    assert client.post(done).status_code == 400
    assert session.get(LearningProgress, (setup["learner"].id, c.id, setup["a1"].id)) is None
    token = csrf_token_from(client.get(f"/collections/{c.id}").get_data(as_text=True))
    assert client.post(done, data={"csrf_token": token}).status_code == 303
    session.expire_all()
    assert session.get(LearningProgress, (setup["learner"].id, c.id, setup["a1"].id)).done_at is not None


def test_sections_and_steps_can_be_reordered_from_the_page(client, login, session, setup):
    c = built(session, setup)
    login(setup["trainer"])
    sec = col.sections(session, c)[0]
    client.post(f"/collections/{c.id}/sections", data={"title": "Second week"})
    second = col.sections(session, c)[1]
    client.post(f"/collections/{c.id}/sections/{second.id}", data={"action": "up"})
    session.expire_all()
    assert [s.title for s in col.sections(session, c)] == ["Second week", "First week"]
    items = col.section_items(session, sec)
    client.post(f"/collections/{c.id}/items/{items[1].id}", data={"action": "up"})
    session.expire_all()
    assert [i.article_id for i in col.section_items(session, sec)] == [setup["a2"].id, setup["a1"].id]
    page = client.get(f"/collections/{c.id}/edit").get_data(as_text=True)
    assert re.search(r"Second week.*First week", page, re.S)

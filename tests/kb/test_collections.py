"""Collections (learning paths): permissions, ordering, assignments reaching team members,
progress, and telling learners about material changes (kb.collections, kb.learning)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kb import collections as col
from kb import learning, permissions
from kb.articles import insert_article, update_article, validate_fields
from kb.db import utcnow
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.loop_models import Collection, CollectionItem, LearningProgress
from kb.teams import Team, TeamMember
from kb.ticket_records import Notification

BODY = ("# Printing\n\nPrint to the Contoso-FollowMe queue, then collect the pages at any printer by tapping "
        "your badge on the reader. Jobs wait for twelve hours before they are deleted.\n\n## Windows\n\n"
        "1. Open Company Portal.\n2. Install Follow-Me Printing.\n3. Print a test page.\n")


@pytest.fixture
def people(make_user, session):
    trainer, lead, learner, other, requester = (make_user("trainer"), make_user("lead"), make_user("agent"),
                                                make_user("agent"), make_user("requester"))
    team = Team(name="Service Desk")
    session.add(team)
    session.flush()
    session.add(TeamMember(team_id=team.id, user_id=learner.id))
    session.commit()
    return {"trainer": trainer, "lead": lead, "learner": learner, "other": other, "requester": requester,
            "team": team}


@pytest.fixture
def publish(session, people):
    """A published article with revision 1, through the article services."""
    def make(title, body=BODY, audience="public"):
        fields = validate_fields(session, title=title, body=body, category="hardware", audience=audience)
        return insert_article(session, people["lead"], fields, status="published", note="Created")
    return make


@pytest.fixture
def path(session, people, publish):
    """A published collection for agents with two steps in one section."""
    trainer = people["trainer"]
    c = col.create_collection(session, trainer, title="Printing for new agents", intro="Start here.",
                              audience_roles="agent")
    s = col.add_section(session, trainer, c, "Basics")
    a1, a2 = publish("Add a network printer"), publish("Scan a document to email")
    col.add_item(session, trainer, s, a1.id, note="Read the Windows part first.")
    col.add_item(session, trainer, s, a2.id)
    col.set_collection_status(session, trainer, c, "published")
    session.commit()
    return c, s, a1, a2


def texts(session, user):
    return [n.text for n in session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                                       Notification.kind == "learning"))]


def test_who_curates_and_who_sees(session, people, path):
    c = path[0]
    assert [permissions.can_curate_collections(people[k]) for k in ("trainer", "lead", "learner", "requester")] \
        == [True, True, False, False]
    assert permissions.can_view_collection(people["learner"], c)          # published, audience "agent"
    assert not permissions.can_view_collection(people["requester"], c)
    assert permissions.can_view_collection(people["requester"], c, assigned=True)
    c.audience_roles, c.audience_team_id = "", people["team"].id
    assert permissions.can_view_collection(people["learner"], c, team_ids={people["team"].id})
    assert not permissions.can_view_collection(people["other"], c, team_ids=set())
    c.status = "draft"
    assert not permissions.can_view_collection(people["learner"], c, team_ids={people["team"].id}, assigned=True)
    assert permissions.can_view_collection(people["lead"], c)
    with pytest.raises(NotFound):
        col.get_collection(session, people["learner"], c.id)
    with pytest.raises(PermissionDenied):
        col.create_collection(session, people["learner"], title="Mine", audience_roles="agent")


def test_audience_and_items_are_validated(session, people, publish):
    trainer = people["trainer"]
    with pytest.raises(ValidationError, match="at least one role or a team"):
        col.create_collection(session, trainer, title="Nobody", audience_roles="")
    with pytest.raises(ValidationError, match="Unknown role"):
        col.create_collection(session, trainer, title="Bad", audience_roles="agent, wizard")
    c = col.create_collection(session, trainer, title="For everyone", audience_roles="requester, agent")
    s = col.add_section(session, trainer, c, "One")
    secret = publish("Runbook: purge a phishing mail", audience="internal")
    with pytest.raises(ValidationError, match="internal"):
        col.add_item(session, trainer, s, secret.id)
    draft = publish("Not yet")
    draft.status = "draft"
    with pytest.raises(ValidationError, match="published"):
        col.add_item(session, trainer, s, draft.id)
    with pytest.raises(ValidationError, match="Add at least one published article"):
        col.set_collection_status(session, trainer, c, "published")
    col.update_collection(session, trainer, c, title="Staff only", audience_roles="agent")
    col.add_item(session, trainer, s, secret.id)
    with pytest.raises(ValidationError, match="already in this collection"):
        col.add_item(session, trainer, s, secret.id)
    with pytest.raises(ValidationError, match="cannot read internal"):
        col.update_collection(session, trainer, c, title="Staff only", audience_roles="agent, requester")


def test_sections_and_steps_keep_their_order(session, people, publish):
    trainer = people["trainer"]
    c = col.create_collection(session, trainer, title="Order", audience_roles="agent")
    a, b, d = (col.add_section(session, trainer, c, t) for t in ("A", "B", "C"))
    col.move_section(session, trainer, d, -1)
    assert [s.title for s in col.sections(session, c)] == ["A", "C", "B"]
    col.reorder_sections(session, trainer, c, [b.id, a.id, d.id])
    assert [s.title for s in col.sections(session, c)] == ["B", "A", "C"]
    with pytest.raises(ValidationError):
        col.reorder_sections(session, trainer, c, [b.id, a.id])
    arts = [publish(f"Step {n}") for n in range(3)]
    items = [col.add_item(session, trainer, a, x.id) for x in arts]
    col.move_item(session, trainer, items[2], -2)
    assert [st.article.title for st in col.outline(session, trainer, c)[1].steps] == ["Step 2", "Step 0", "Step 1"]
    col.update_section(session, trainer, a, "Renamed", "Intro")
    col.remove_item(session, trainer, items[0])
    assert [st.article.title for st in col.outline(session, trainer, c)[1].steps] == ["Step 2", "Step 1"]
    col.remove_section(session, trainer, a)
    session.commit()
    assert [s.title for s in col.sections(session, c)] == ["B", "C"]
    assert session.scalars(select(CollectionItem)).all() == []


def test_assigning_to_a_team_reaches_its_members(session, people, path):
    c = path[0]
    learner, other, trainer = people["learner"], people["other"], people["trainer"]
    draft = col.create_collection(session, trainer, title="Draft", audience_roles="agent")
    with pytest.raises(ValidationError, match="Publish"):
        learning.assign_collection(session, trainer, draft, team=people["team"])
    with pytest.raises(ValidationError, match="past"):
        learning.assign_collection(session, trainer, c, team=people["team"], due_at=utcnow() - timedelta(days=1))
    due = utcnow() + timedelta(days=7)
    learning.assign_collection(session, trainer, c, team=people["team"], due_at=due)
    session.commit()
    assert any("Printing for new agents" in t and "due" in t for t in texts(session, learner))
    assert texts(session, other) == []
    mine = learning.my_learning(session, learner)
    assert [(e.collection.id, e.done, e.total, e.overdue) for e in mine] == [(c.id, 0, 2, False)]
    assert learning.my_learning(session, other) == []
    assert learning.has_learning(session, learner) and not learning.has_learning(session, other)
    late = learning.my_learning(session, learner, now=due + timedelta(hours=1))
    assert late[0].overdue


def test_progress_and_the_trainers_table(session, people, path):
    c, _s, a1, a2 = path
    learner, trainer = people["learner"], people["trainer"]
    learning.assign_collection(session, trainer, c, user=learner)
    learning.mark_opened(session, learner, c, a1.id)
    learning.mark_done(session, learner, c, a2.id)
    session.commit()
    entry = learning.my_learning(session, learner)[0]
    assert (entry.done, entry.total, entry.percent) == (1, 2, 50)
    p = session.get(LearningProgress, (learner.id, c.id, a2.id))
    assert p.done_revision == 1 and p.opened_at is not None
    rows = learning.collection_progress(session, trainer, c)
    assert [(r.user.id, r.entry.done, r.entry.total) for r in rows] == [(learner.id, 1, 2)]
    assert rows[0].entry.last_activity is not None
    with pytest.raises(PermissionDenied):
        learning.collection_progress(session, learner, c)
    with pytest.raises(NotFound):
        learning.mark_done(session, people["requester"], c, a1.id)     # not their collection
    with pytest.raises(NotFound):
        learning.mark_done(session, learner, c, a2.id + 999)           # not a step of it
    learning.mark_done(session, learner, c, a2.id, done=False)
    assert learning.my_learning(session, learner)[0].done == 0


@pytest.mark.parametrize("new_body, material", [
    (BODY.replace("twelve hours", "12 hours"), False),                              # a small edit
    (BODY.replace("Print a test page.", "Print a test page and check both sides."), False),
    (BODY + "\n## Mac\n\n1. Open Self Service.\n", True),                            # a section added
    (BODY.replace("## Windows", "Windows:"), True),                                  # a section removed
    ("# Printing\n\nPrinting now goes through the cloud print service; badge release is gone. "
     "Open the web portal, upload the file and pick a printer near you.\n\n## Windows\n\nNothing to install.\n",
     True),                                                                          # rewritten
])
def test_what_counts_as_material(new_body, material):
    change = learning.material_change(BODY, new_body)
    assert (change is not None) == material
    if change is not None:
        assert change.summary()


def edit(session, editor, article, body, note):
    update_article(session, editor, article, title=article.title, body=body, category="hardware",
                   audience=article.audience, note=note)
    session.commit()


def test_a_material_change_marks_completers_outdated_and_tells_only_them(session, people, path):
    c, _s, a1, a2 = path
    learner, other, lead = people["learner"], people["other"], people["lead"]
    for who in (learner, other):
        learning.assign_collection(session, people["trainer"], c, user=who)
    learning.mark_done(session, learner, c, a1.id)
    learning.mark_opened(session, other, c, a1.id)              # opened, never completed
    session.commit()
    before = {u.id: len(texts(session, u)) for u in (learner, other)}

    edit(session, lead, a1, BODY.replace("twelve hours", "12 hours"), "Typo")
    assert not session.get(LearningProgress, (learner.id, c.id, a1.id)).outdated
    assert len(texts(session, learner)) == before[learner.id]

    edit(session, lead, a1, BODY.replace("twelve hours", "12 hours") + "\n## Mac\n\n1. Open Self Service.\n",
         "Added the Mac steps")
    p = session.get(LearningProgress, (learner.id, c.id, a1.id))
    assert p.outdated
    told = texts(session, learner)[before[learner.id]:]
    assert len(told) == 1
    assert "Added the Mac steps" in told[0] and "New section: Mac" in told[0]
    assert f"/kb/{a1.id}/diff?from=1&to=3" in told[0]           # against the revision they completed
    assert len(texts(session, other)) == before[other.id]
    entry = learning.my_learning(session, learner)[0]
    assert (entry.done, entry.outdated) == (0, 1)

    edit(session, lead, a1, BODY + "\n## Linux\n\nUse CUPS.\n", "Another one")  # already told: not again
    assert len(texts(session, learner)) == before[learner.id] + 1
    learning.mark_done(session, learner, c, a1.id)
    assert not session.get(LearningProgress, (learner.id, c.id, a1.id)).outdated


def test_changes_in_a_draft_collection_tell_nobody(session, people, path):
    c, _s, a1, _a2 = path
    learning.assign_collection(session, people["trainer"], c, user=people["learner"])
    learning.mark_done(session, people["learner"], c, a1.id)
    col.set_collection_status(session, people["trainer"], c, "draft")
    session.commit()
    edit(session, people["lead"], a1, BODY + "\n## Mac\n\nSelf Service.\n", "Mac")
    assert not session.get(LearningProgress, (people["learner"].id, c.id, a1.id)).outdated


def test_suggestions_come_by_meaning_and_skip_what_is_there(session, people, path, publish, index_now):
    from portal.search_ext import engine

    c, _s, a1, a2 = path
    extra = publish("Printer prints blank pages", body="If the printer prints blank pages, replace the toner "
                                                       "cartridge and print a test page.")
    publish("Reset your password", body="Open the self-service page and choose Reset.")
    hidden = publish("Printer driver runbook", body="Printer queue and driver fixes for agents.",
                     audience="internal")
    index_now()
    found = col.suggest_articles(session, people["trainer"], engine(), c, limit=3)
    ids = [s.article.id for s in found]
    assert extra.id in ids and a1.id not in ids and a2.id not in ids
    assert hidden.id in [s.article.id for s in col.suggest_articles(session, people["trainer"], engine(), c)]
    c.audience_roles = "requester"
    assert hidden.id not in [s.article.id for s in col.suggest_articles(session, people["trainer"], engine(), c)]
    assert session.get(Collection, c.id) is not None

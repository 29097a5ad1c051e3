"""Triage of real tickets: the stored matrix, suggestions from past tickets and signals,
what the requester chose, corrections by staff, and the accuracy report."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb import permissions, ticket_similarity, triage_service as ts
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.taxonomy import get_category
from kb.ticket_events import CATEGORY, PRIORITY, list_events
from kb.ticket_records import PriorityMatrixCell, TriageCorrection
from kb.tickets import Ticket
from kb.triage import DEFAULT_MATRIX
from search.embedders import HashEmbedder

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def emb():
    return HashEmbedder()


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"), "agent": make_user("agent"),
            "lead": make_user("lead"), "admin": make_user("admin")}


@pytest.fixture
def cat(session):
    return lambda slug: get_category(session, slug)


@pytest.fixture
def past(session, people, emb, cat):
    """A categorised past ticket with its vector."""
    def make(text, top, sub=None, **kw):
        t = Ticket(title=text, description=text, requester_id=people["requester"].id, status="closed",
                   category_id=cat(top).id, subcategory_id=cat(sub).id if sub else None, created_at=T0, **kw)
        session.add(t)
        session.flush()
        ticket_similarity.store_vector(session, t, emb)
        return t
    return make


@pytest.fixture
def new_ticket(session, people):
    def make(title="VPN drops", description="The VPN connection drops every hour.", created_at=T0):
        t = Ticket(title=title, description=description, requester_id=people["requester"].id, status="new",
                   created_at=created_at)
        session.add(t)
        session.flush()
        return t
    return make


# -- matrix -------------------------------------------------------------------------------

def test_seed_matrix_stores_the_default_and_leaves_changed_cells(session):
    assert ts.seed_priority_matrix(session) == 9
    cells = {(c.impact, c.urgency): c.priority for c in session.scalars(select(PriorityMatrixCell))}
    assert cells[("all", "stopped")] == "high" and cells[("single", "can_wait")] == "low"
    session.get(PriorityMatrixCell, ("single", "stopped")).priority = "high"
    session.delete(session.get(PriorityMatrixCell, ("several", "can_wait")))
    session.flush()
    assert ts.seed_priority_matrix(session) == 1  # only the missing cell
    assert session.get(PriorityMatrixCell, ("single", "stopped")).priority == "high"
    assert ts.matrix(session)["single"]["stopped"] == "High"


def test_matrix_falls_back_to_the_default_for_missing_cells(session):
    assert ts.matrix(session) == DEFAULT_MATRIX
    session.add(PriorityMatrixCell(impact="single", urgency="impeded", priority="low"))
    session.flush()
    m = ts.matrix(session)
    assert m["single"]["impeded"] == "Low" and m["all"]["stopped"] == "High"


def test_admin_edits_the_matrix_and_suggestions_follow(session, people):
    ts.seed_priority_matrix(session)
    assert ts.suggest(session, "The printer is slow").priority == "medium"  # single x impeded
    ts.set_matrix(session, people["admin"], {("single", "impeded"): "Low"})
    assert session.get(PriorityMatrixCell, ("single", "impeded")).priority == "low"
    s = ts.suggest(session, "The printer is slow")
    assert s.priority == "low" and "→ Low" in s.priority_reason


@pytest.mark.parametrize("cells, message", [
    ({("single", "can_wait"): "urgent"}, "Unknown priority"),
    ({("everyone", "stopped"): "high"}, "Unknown matrix cell"),
    ({("single", "can_wait"): "high"}, "never lower"),  # higher than the cells above it
    ({("all", "stopped"): "low"}, "never lower"),
])
def test_matrix_changes_are_validated_and_nothing_is_saved(session, people, cells, message):
    ts.seed_priority_matrix(session)
    before = ts.matrix(session)
    with pytest.raises(ValidationError, match=message):
        ts.set_matrix(session, people["admin"], cells)
    assert ts.matrix(session) == before


@pytest.mark.parametrize("role", ["agent", "lead", "requester"])
def test_only_admins_edit_the_matrix(session, people, role):
    with pytest.raises(PermissionDenied):
        ts.set_matrix(session, people[role], {("single", "impeded"): "low"})


# -- suggestions --------------------------------------------------------------------------

def test_category_comes_from_the_nearest_past_tickets(session, past, emb):
    for text in ("VPN connection drops every hour", "VPN connection drops at home", "VPN connection drops daily"):
        past(text, "network", "vpn-remote")
    past("Printer out of toner", "hardware", "printers-scanners")
    past("Printer paper jam", "hardware", "printers-scanners")
    s = ts.suggest(session, "My VPN connection drops", emb)
    assert s.category.slug == "network" and s.subcategory.slug == "vpn-remote"
    assert s.category_confidence > 0.5
    assert "3 of the" in s.category_reason and "'Network connectivity / VPN and remote work'" in s.category_reason
    assert len(s.similar_ticket_ids) == 5 and not s.restricted
    zh = ts.suggest(session, "My VPN connection drops", emb, language="zh")
    assert "网络连接 / VPN 与远程办公" in zh.category_reason


def test_split_or_weak_neighbours_suggest_no_category(session, past, emb):
    past("Laptop screen flickers", "hardware")
    past("Laptop screen flickers", "software")
    s = ts.suggest(session, "Laptop screen flickers", emb)
    assert s.category is None and "split" in s.category_reason
    unrelated = ts.suggest(session, "Kantine Speiseplan morgen", emb)
    assert unrelated.category is None


def test_without_past_tickets_there_is_no_category_but_the_priority_still_counts(session, emb):
    s = ts.suggest(session, "The server is down, all users are affected", emb)
    assert s.category is None and s.category_confidence == 0.0 and "no similar past tickets" in s.category_reason
    assert s.priority == "high" and (s.impact, s.urgency) == ("all", "stopped")
    assert "mentions 'server is down'" in s.priority_reason
    assert {sig.rule for sig in s.signals} >= {"system_down", "all_users"}
    assert ts.suggest(session, "The server is down").category is None  # no embedder: priority only


@pytest.mark.parametrize("text, phrase", [("系统崩溃了，数据丢失", "系统崩溃"), ("Data loss on the shared drive", "data loss"),
                                          ("Excel crashes when saving", "crashes")])
def test_critical_signals_give_high_priority_with_the_reason(session, text, phrase):
    s = ts.suggest(session, text)
    assert s.priority == "high"
    assert f"mentions '{phrase}'" in s.priority_reason


@pytest.mark.parametrize("text", ["The agent was rude to me on the phone", "Very unprofessional support",
                                  "I have a complaint about the agent who visited", "客服态度很差", "我要投诉",
                                  "他很不礼貌", "Der Techniker war unhöflich"])
def test_service_attitude_complaints_are_restricted(session, past, emb, text):
    for t in ("VPN connection drops", "VPN connection drops again", "The agent fixed the VPN connection"):
        past(t, "network", "vpn-remote")
    s = ts.suggest(session, text, emb)
    assert (s.category.slug, s.subcategory.slug) == ("service", "complaints-feedback")
    assert s.restricted and s.category_confidence == 1.0 and "complaint" in s.category_reason


@pytest.mark.parametrize("text", ["Crude oil report macro fails", "Please reset my password", "Der Drucker ist kaputt"])
def test_ordinary_text_is_not_a_complaint(session, text):
    assert not ts.suggest(session, text).restricted


# -- applying a suggestion to a new ticket -------------------------------------------------

def _suggestion(session, cat, **kw):
    base = dict(category=cat("network"), subcategory=cat("vpn-remote"), category_confidence=0.8, category_reason="x",
                similar_ticket_ids=[], priority="medium", impact="single", urgency="impeded", priority_reason="why")
    base.update(kw)
    return ts.TriageSuggestion(**base)


def _corrections(session, ticket):
    return {c.field: c for c in session.scalars(select(TriageCorrection).where(TriageCorrection.ticket_id == ticket.id))}


def test_apply_uses_the_suggestion_when_nothing_was_chosen(session, new_ticket, cat):
    t = new_ticket()
    ts.apply_to_new_ticket(session, t, _suggestion(session, cat), chosen={"category_id": None, "impact": None})
    assert (t.category.slug, t.subcategory.slug, t.priority, t.priority_reason) == ("network", "vpn-remote", "medium", "why")
    assert t.suggested_category_id == cat("network").id and t.suggested_priority == "medium"
    assert not t.restricted and _corrections(session, t) == {}


def test_apply_prefers_the_requesters_choice_and_records_the_differences(session, new_ticket, cat, people):
    t = new_ticket()
    ts.apply_to_new_ticket(session, t, _suggestion(session, cat), chosen={
        "category_id": cat("hardware").id, "subcategory_id": cat("laptops-desktops").id,
        "impact": "all", "urgency": "stopped"})
    assert (t.category.slug, t.subcategory.slug, t.impact, t.urgency) == ("hardware", "laptops-desktops", "all", "stopped")
    assert t.priority == "high" and t.priority_reason.startswith("chosen by the requester: impact")
    assert t.suggested_category_id == cat("network").id and t.suggested_priority == "medium"
    rows = _corrections(session, t)
    assert set(rows) == {"category", "subcategory", "priority"}
    assert (rows["category"].suggested, rows["category"].chosen) == ("network", "hardware")
    assert (rows["priority"].suggested, rows["priority"].chosen) == ("medium", "high")
    assert all(r.actor_role == "requester" and r.actor_id == people["requester"].id for r in rows.values())


def test_apply_keeps_a_complaint_restricted_and_rejects_a_wrong_subcategory(session, new_ticket, cat):
    t = new_ticket()
    complaint = _suggestion(session, cat, category=cat("service"), subcategory=cat("complaints-feedback"),
                            restricted=True)
    ts.apply_to_new_ticket(session, t, complaint, chosen={})
    assert t.restricted
    with pytest.raises(ValidationError, match="not a subcategory"):
        ts.apply_to_new_ticket(session, new_ticket(), _suggestion(session, cat), chosen={
            "category_id": cat("network").id, "subcategory_id": cat("printers-scanners").id})


# -- corrections ---------------------------------------------------------------------------

@pytest.fixture
def filed(session, new_ticket, cat):
    t = new_ticket()
    ts.apply_to_new_ticket(session, t, _suggestion(session, cat), chosen={})
    return t


def test_agent_corrects_category_and_priority_with_events_and_corrections(session, filed, people, cat):
    changes = ts.correct(session, people["agent"], filed, category_id=cat("software").id, urgency="stopped")
    assert changes["category"] == ("network", "software") and changes["subcategory"] == ("vpn-remote", None)
    assert filed.priority == "medium" and filed.urgency == "stopped"  # single x stopped is Medium
    events = {e.kind: e.payload for e in list_events(session, filed)}
    assert events[CATEGORY]["from"] == "network" and events[CATEGORY]["to"] == "software"
    assert events[PRIORITY]["from_urgency"] == "impeded" and events[PRIORITY]["to_urgency"] == "stopped"
    rows = _corrections(session, filed)
    assert rows["category"].suggested == "network" and rows["category"].actor_role == "agent"
    assert "priority" not in rows  # the priority did not change
    ts.correct(session, people["agent"], filed, priority="high", reason="VIP travelling tomorrow")
    assert filed.priority == "high" and "VIP travelling tomorrow" in filed.priority_reason
    assert _corrections(session, filed)["priority"].chosen == "high"
    assert ts.correct(session, people["agent"], filed, priority="high", reason="again") == {}  # no change, no rows


def test_correction_errors_are_clear_and_change_nothing(session, filed, people, cat):
    with pytest.raises(ValidationError, match="reason"):
        ts.correct(session, people["agent"], filed, priority="low")
    with pytest.raises(ValidationError, match="not a subcategory"):
        ts.correct(session, people["agent"], filed, category_id=cat("hardware").id, subcategory_id=cat("wifi").id)
    with pytest.raises(ValidationError, match="impact"):
        ts.correct(session, people["agent"], filed, impact="galactic")
    with pytest.raises(ValidationError, match="top categories"):
        ts.correct(session, people["agent"], filed, category_id=cat("wifi").id)
    assert (filed.category.slug, filed.priority, filed.impact) == ("network", "medium", "single")
    assert _corrections(session, filed) == {} and list_events(session, filed) == []


def test_requester_corrects_only_while_new_and_never_the_priority_itself(session, filed, people, cat):
    with pytest.raises(PermissionDenied):
        ts.correct(session, people["requester"], filed, priority="high", reason="please")
    ts.correct(session, people["requester"], filed, subcategory_id=cat("wifi").id, impact="several")
    assert filed.subcategory.slug == "wifi" and filed.priority == "medium"
    assert _corrections(session, filed)["subcategory"].actor_role == "requester"
    with pytest.raises(NotFound):
        ts.correct(session, people["other"], filed, impact="all")
    filed.status = "assigned"
    with pytest.raises(PermissionDenied):
        ts.correct(session, people["requester"], filed, impact="all")


def test_moving_into_complaints_restricts_and_out_clears(session, filed, people, cat):
    ts.correct(session, people["agent"], filed, subcategory_id=cat("complaints-feedback").id, reason="about Sam")
    assert filed.restricted and filed.category.slug == "service"
    assert not permissions.can_view_ticket(people["agent"], filed)
    with pytest.raises(NotFound):  # the agent no longer sees it
        ts.correct(session, people["agent"], filed, category_id=cat("network").id)
    ts.correct(session, people["lead"], filed, category_id=cat("network").id, reason="not a complaint")
    assert not filed.restricted and filed.subcategory is None


# -- accuracy ------------------------------------------------------------------------------

def test_accuracy_report_counts_kept_suggestions_and_corrections_by_role(session, new_ticket, people, cat):
    old = new_ticket(created_at=T0 - timedelta(days=60))
    ts.apply_to_new_ticket(session, old, _suggestion(session, cat), chosen={"category_id": cat("hardware").id})
    tickets = [new_ticket() for _ in range(4)]
    for t in tickets:
        ts.apply_to_new_ticket(session, t, _suggestion(session, cat), chosen={})
    ts.correct(session, people["agent"], tickets[0], category_id=cat("software").id)
    ts.correct(session, people["lead"], tickets[1], priority="high", reason="outage")
    ts.correct(session, people["requester"], tickets[2], impact="all", urgency="stopped")
    unsuggested = new_ticket()
    ts.apply_to_new_ticket(session, unsuggested, _suggestion(session, cat, category=None, subcategory=None), chosen={})

    r = ts.accuracy_report(session)
    assert r["category"]["suggested"] == 5 and r["category"]["kept"] == 3 and r["category"]["accuracy"] == 0.6
    assert r["category"]["corrections"] == {"requester": 1, "agent": 1}
    assert r["priority"]["suggested"] == 6 and r["priority"]["kept"] == 4
    assert r["priority"]["corrections"] == {"lead": 1, "requester": 1}

    recent = ts.accuracy_report(session, since=T0 - timedelta(days=1))
    assert recent["category"]["suggested"] == 4 and recent["category"]["kept"] == 3
    assert recent["category"]["corrections"] == {"agent": 1}
    empty = ts.accuracy_report(session, since=T0 + timedelta(days=1))
    assert empty["category"] == {"suggested": 0, "kept": 0, "accuracy": None, "corrections": {}}

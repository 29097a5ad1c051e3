"""Similar tickets by embedding: stored vectors, the nearest-neighbour scan and its limits,
and resolved tickets filtered by who may see them."""
from __future__ import annotations

import numpy as np
import pytest

from kb import ticket_similarity as sim
from kb.errors import NotFound
from kb.ticket_records import TicketVector
from kb.tickets import Ticket
from search.embedders import HashEmbedder


@pytest.fixture
def emb():
    return HashEmbedder()


@pytest.fixture
def people(make_user):
    return {"requester": make_user("requester"), "other": make_user("requester"), "agent": make_user("agent"),
            "lead": make_user("lead")}


@pytest.fixture
def ticket(session, people):
    def make(title, description="", *, status="new", requester=None, resolution=None, restricted=False):
        t = Ticket(title=title, description=description or title, requester_id=(requester or people["requester"]).id,
                   status=status, resolution=resolution, restricted=restricted)
        session.add(t)
        session.flush()
        return t
    return make


def test_store_vector_keeps_a_normalised_float32_vector_per_ticket(session, ticket, emb):
    t = ticket("VPN drops every hour", "The VPN connection drops")
    row = sim.store_vector(session, t, emb)
    vec = np.frombuffer(row.vector, dtype=np.float32)
    assert row.model == emb.name and vec.shape == (emb.dim,)
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    t.title, t.description = "Printer jam", "Paper stuck in the printer"
    sim.store_vector(session, t, emb)  # replaced, not duplicated
    assert session.query(TicketVector).count() == 1
    assert not np.allclose(np.frombuffer(session.get(TicketVector, t.id).vector, dtype=np.float32), vec)


def test_nearest_ranks_by_similarity_and_applies_the_filters(session, ticket, emb):
    vpn = ticket("VPN connection drops", "VPN connection drops every hour when working remotely")
    vpn2 = ticket("VPN connection drops again", "VPN connection drops at home", status="resolved")
    printer = ticket("Printer out of toner", "The printer on floor 2 has no toner")
    for t in (vpn, vpn2, printer):
        sim.store_vector(session, t, emb)
    query = sim.encode(emb, sim.embedding_text("my VPN connection drops"))
    hits = sim.nearest(session, query, model=emb.name, limit=3)
    assert [tid for tid, _ in hits][:2] in ([vpn.id, vpn2.id], [vpn2.id, vpn.id])
    assert hits[-1][0] == printer.id and hits[0][1] > hits[-1][1]
    assert [tid for tid, _ in sim.nearest(session, query, model=emb.name, limit=1)] == [hits[0][0]]
    assert [t for t, _ in sim.nearest(session, query, model=emb.name, statuses=["resolved"])] == [vpn2.id]
    assert vpn.id not in [t for t, _ in sim.nearest(session, query, model=emb.name, exclude_ticket_id=vpn.id)]
    only = sim.nearest(session, query, model=emb.name, restrict_to=Ticket.id == printer.id)
    assert [t for t, _ in only] == [printer.id]
    assert sim.nearest(session, query, model="another-model") == []


def test_vectors_of_another_model_or_dimension_are_never_compared(session, ticket, emb):
    a, b = ticket("VPN drops"), ticket("VPN drops too")
    sim.store_vector(session, a, emb)
    sim.store_vector(session, b, HashEmbedder(64))  # other name and dimension
    session.get(TicketVector, b.id).model = emb.name  # same name, wrong length: skipped, not a crash
    session.flush()
    hits = sim.nearest(session, sim.encode(emb, "vpn drops"), model=emb.name)
    assert [t for t, _ in hits] == [a.id]


def test_scan_is_capped_to_the_most_recent_vectors(session, ticket, emb, monkeypatch):
    old = ticket("VPN drops", "VPN drops")
    newer = [ticket(f"Printer {i}", "printer toner") for i in range(2)]
    for t in (old, *newer):
        sim.store_vector(session, t, emb)
    monkeypatch.setattr(sim, "SCAN_LIMIT", 2)
    hits = sim.nearest(session, sim.encode(emb, "vpn drops"), model=emb.name, limit=5)
    assert sorted(t for t, _ in hits) == sorted(t.id for t in newer)


def test_similar_resolved_shows_only_visible_resolved_tickets_with_their_resolution(session, ticket, emb, people):
    current = ticket("Outlook crashes on start", "Outlook crashes when I open it")
    fixed = ticket("Outlook crashes at startup", "Outlook crashes on start", status="closed",
                   resolution="Repaired the Office installation.")
    open_one = ticket("Outlook crashes on start too", "Outlook crashes on start", status="in_progress")
    complaint = ticket("Outlook crashes and the agent was rude", "Outlook crashes on start", status="resolved",
                       resolution="Apologised.", restricted=True)
    mine = ticket("Outlook crashes on start", "Outlook crashes", status="resolved", requester=people["other"],
                  resolution="Reset the profile.")
    for t in (fixed, open_one, complaint, mine):
        sim.store_vector(session, t, emb)
    assert session.get(TicketVector, current.id) is None

    found = sim.similar_resolved(session, people["agent"], current, emb, limit=5)
    assert session.get(TicketVector, current.id) is not None  # computed lazily
    ids = [s.ticket.id for s in found]
    assert fixed.id in ids and mine.id in ids
    assert current.id not in ids and open_one.id not in ids and complaint.id not in ids  # restricted: hidden
    assert next(s for s in found if s.ticket.id == fixed.id).resolution == "Repaired the Office installation."
    assert complaint.id in [s.ticket.id for s in sim.similar_resolved(session, people["lead"], current, emb)]
    # The requester sees only their own tickets (their own complaint too); another requester
    # cannot ask about this one at all.
    own = {s.ticket.id for s in sim.similar_resolved(session, people["requester"], current, emb)}
    assert own == {fixed.id, complaint.id}
    with pytest.raises(NotFound):
        sim.similar_resolved(session, people["other"], current, emb)
    assert len(sim.similar_resolved(session, people["lead"], current, emb, limit=1)) == 1


def test_memo_embedder_encodes_a_new_ticket_once_and_before_registration(session, make_user):
    """Warmed before the write transaction, registration encodes nothing more, and the stored
    vector is the one a plain embedder gives."""
    from kb.ticket_similarity import MemoEmbedder
    from kb.tickets import create_ticket
    from kb.ticket_similarity import TicketVector
    from search import HashEmbedder

    class Counting(HashEmbedder):
        calls = 0

        def encode(self, texts):
            Counting.calls += len(list(texts))
            return super().encode(texts)

    user = make_user()
    memo = MemoEmbedder.warmed(Counting(), "VPN drops", "The VPN disconnects every few minutes.")
    warm_calls = Counting.calls
    ticket = create_ticket(session, user, title="VPN drops", description="The VPN disconnects every few minutes.",
                           embedder=memo)
    assert Counting.calls == warm_calls  # nothing encoded inside the transaction
    plain = create_ticket(session, user, title="VPN drops", description="The VPN disconnects every few minutes.",
                          embedder=HashEmbedder())
    assert session.get(TicketVector, ticket.id).vector == session.get(TicketVector, plain.id).vector
    assert MemoEmbedder.warmed(None, "a", "b") is None
    assert memo.encode([]).shape == (0, memo.dim)

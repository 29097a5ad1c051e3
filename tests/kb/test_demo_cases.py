"""The demo history loads through the ticket services, once, with what the demo promises."""
from __future__ import annotations

from sqlalchemy import func, select

from kb.demo import load_demo
from kb.demo.cases import read_cases
from kb.loop_models import ArticleSource
from kb.ticket_records import SurveyResponse, TicketArticleLink
from kb.tickets import Ticket


def test_the_demo_history_loads_once(session):
    from kb.sla.models import seed_sla_defaults

    seed_sla_defaults(session)
    load_demo(session, history=False)
    session.commit()
    people, cases = read_cases()

    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model))

    assert count(Ticket) == len(cases) == 54
    paired = [c for c in cases if c.article]
    assert len(paired) >= 30 and len({c.article for c in paired}) == len(paired)
    assert count(TicketArticleLink) == len(paired)  # each pair is linked to its final article
    assert count(ArticleSource) == 0  # nothing drafted yet: the recurring problems wait for a lead
    statuses = dict(session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
    assert set(statuses) == {"closed", "resolved"} and statuses["closed"] > 40
    assert 0 < count(SurveyResponse) < statuses["closed"]
    load_demo(session, history=False)  # idempotent
    session.commit()
    assert count(Ticket) == 54

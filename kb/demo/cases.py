"""Past tickets for the demo (``cases.yaml``): resolved and closed cases with their conversation.

Most are case/article pairs: tickets whose final knowledge article is known (``article``,
a demo article's source id), linked to it as used for the resolution. They give the demo a
history (similar resolved tickets, article health, triage neighbours) and are the ground
truth of ``bench/drafting_quality.py``: the draft written from a case should contain the
case's ``key_steps``, and dedup should find its article. The rest are recurring problems
no article covers yet (``cluster``), for drafting from history.

Every ticket goes through the same services as a real one (filing, taking, replies,
internal notes, the plan, resolving, the requester's confirmation), backdated with ``now``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import surveys, ticket_work as work
from kb.articles_models import Article
from kb.contacts import find_or_create_contact
from kb.db import utcnow
from kb.taxonomy import get_category
from kb.tickets import Ticket, create_ticket
from kb.users import User, get_user_by_email

CASES_FILE = Path(__file__).parent / "cases.yaml"
SURVEY_SHARE = 0.7  # of closed cases whose requester answered the survey
AGENT_FOR_LANG = {"zh": "liwei@contoso.example"}
DEFAULT_AGENT = "agent@contoso.example"


@dataclass(frozen=True)
class Case:
    """One case as written in ``cases.yaml`` (see its header for the fields)."""

    id: str
    article: str | None
    cluster: str | None
    requester: str
    channel: str
    category: str
    subcategory: str | None
    impact: str
    urgency: str
    days_ago: int
    status: str
    title: str
    description: str
    resolution: str
    thread: list[dict] = field(default_factory=list)
    plan: dict | None = None
    key_steps: list[str] = field(default_factory=list)


def read_cases(path: Path = CASES_FILE) -> tuple[list[dict], list[Case]]:
    """The extra people and the cases of the file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fields = set(Case.__dataclass_fields__)
    return data.get("people", []), [Case(**{k: v for k, v in c.items() if k in fields}) for c in data["cases"]]


def _person(session: Session, email: str, people: dict[str, dict]) -> User:
    user = get_user_by_email(session, email)
    if user is None:
        info = people.get(email, {})
        user, _created = find_or_create_contact(session, email, info.get("name"), phone=info.get("phone"))
    return user


def _times(days_ago: int, steps: int, now: datetime) -> list[datetime]:
    """``steps`` moments from filing to closing, a few hours apart, all before ``now``."""
    start = now - timedelta(days=days_ago, hours=3)
    span = min(timedelta(days=1, hours=6), (now - timedelta(minutes=30)) - start)
    gap = span / max(steps, 1)
    return [start + gap * i for i in range(steps + 1)]


def load_case(session: Session, case: Case, people: dict[str, dict], *, embedder=None,
              now: datetime | None = None) -> Ticket:
    """File, work and resolve (or close) one case through the services."""
    requester = _person(session, case.requester, people)
    category = get_category(session, case.category)
    sub = get_category(session, case.subcategory) if case.subcategory else None
    agent = get_user_by_email(session, AGENT_FOR_LANG.get(requester.locale or "", DEFAULT_AGENT))
    moments = iter(_times(case.days_ago, len(case.thread) + 8, now or utcnow()))
    filed = next(moments)
    ticket = create_ticket(session, agent if case.channel == "phone" else requester, requester=requester,
                           title=case.title, description=case.description, channel=case.channel,
                           category_id=category.id if category else None, subcategory_id=sub.id if sub else None,
                           impact=case.impact, urgency=case.urgency, embedder=embedder, route=False, now=filed)
    work.take(session, agent, ticket, now=next(moments))
    at = next(moments)
    work.acknowledge(session, agent, ticket, planned_actions="Look into it and reply with the next steps.",
                     expected_completion_at=at + timedelta(days=2), now=at)
    for message in case.thread:
        author = agent if message["from"] == "agent" else requester
        work.reply(session, author, ticket, message["text"], internal=bool(message.get("internal")), now=next(moments))
    if case.plan:
        work.save_plan(session, agent, ticket, diagnosis=case.plan.get("diagnosis", ""),
                       steps=case.plan.get("steps", ""), now=next(moments))
    if case.article:
        article = session.scalar(select(Article).where(Article.source_id == case.article))
        if article is not None:
            work.link_article(session, agent, ticket, article.id, now=next(moments))
    work.resolve(session, agent, ticket, case.resolution, now=next(moments))
    if case.status == "closed":
        work.confirm(session, requester, ticket, now=next(moments))
        _survey(session, case, requester, ticket, next(moments))
    return ticket


def _survey(session: Session, case: Case, requester: User, ticket: Ticket, at: datetime) -> None:
    """Most requesters answer; ratings lean positive with a few poor ones, fixed per case id
    (the file has no ratings: they are the demo's, not evaluation data)."""
    rng = random.Random(case.id)
    if rng.random() >= SURVEY_SHARE:
        return
    mood = rng.choices((5, 4, 3, 2), weights=(45, 35, 12, 8))[0]
    rate = [max(1, min(5, mood + rng.choice((-1, 0, 0, 0, 1)))) for _ in range(3)]
    surveys.submit_survey(session, requester, ticket, speed=rate[0], effectiveness=rate[1], communication=rate[2],
                          now=at)


def load_demo_cases(session: Session, *, embedder=None, now: datetime | None = None) -> int:
    """Load the cases that are not there yet (matched by requester and title); returns how many."""
    people_list, cases = read_cases()
    people = {p["email"]: p for p in people_list}
    loaded = 0
    for case in cases:
        requester = get_user_by_email(session, case.requester)
        if requester is not None and session.scalar(select(Ticket.id).where(
                Ticket.requester_id == requester.id, Ticket.title == case.title).limit(1)) is not None:
            continue
        load_case(session, case, people, embedder=embedder, now=now)
        loaded += 1
    session.flush()
    return loaded

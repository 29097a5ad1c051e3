"""Demo data: one user per role, the sample knowledge base in ``articles/`` and past tickets
in ``cases.yaml`` (:mod:`kb.demo.cases`).

The articles go through the same importer an organisation uses to move in, and the tickets
through the ticket services, so the demo also exercises those paths.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from kb.taxonomy import seed_taxonomy
from kb.users import create_user, get_user_by_email

ARTICLES_DIR = Path(__file__).parent / "articles"
DEMO_PASSWORD = "helpdesk-demo"

DEMO_USERS = [
    ("admin@contoso.example", "Ada Admin", "admin", "en"),
    ("lead@contoso.example", "Leo Lead", "lead", "en"),
    ("agent@contoso.example", "Sam Agent", "agent", "en"),
    ("liwei@contoso.example", "李伟", "agent", "zh"),
    ("trainer@contoso.example", "Tess Trainer", "trainer", "en"),
    ("alice@contoso.example", "Alice Requester", "requester", "en"),
    ("bob@contoso.example", "Bob Requester", "requester", "en"),
    ("wangfang@contoso.example", "王芳", "requester", "zh"),
]


def load_demo(session: Session, progress: Callable[[int, int], None] | None = None, *, embedder=None,
              cases: bool = True, history: bool = True):
    """Seed the taxonomy, the demo users, teams, priority matrix, articles and past tickets
    (idempotent). ``embedder`` stores the tickets' vectors (similar tickets, triage);
    ``history`` adds months of tickets and help sessions for the insights (:mod:`kb.demo.history`)."""
    from kb.importer import import_path

    seed_taxonomy(session)
    for email, name, role, locale in DEMO_USERS:
        if get_user_by_email(session, email) is None:
            create_user(session, None, email=email, name=name, password=DEMO_PASSWORD, role=role, locale=locale)
    seed_demo_teams(session)
    from kb.triage_service import seed_priority_matrix
    seed_priority_matrix(session)
    author = get_user_by_email(session, "agent@contoso.example")
    report = import_path(session, ARTICLES_DIR, author=author, progress=progress)
    if cases:
        from kb.demo.cases import load_demo_cases
        load_demo_cases(session, embedder=embedder)
    if cases and history:  # cases=False (bench/drafting_quality.py) keeps a bare knowledge base
        from kb.demo.history import load_demo_history
        load_demo_history(session, embedder=embedder)
    return report


# name, Chinese name, lead, members, owned top categories: every top category has an owner.
DEMO_TEAMS = [
    ("Service Desk", "服务台", "lead@contoso.example", ("agent@contoso.example", "liwei@contoso.example"),
     ("access", "service", "software")),
    ("Infrastructure", "基础设施", "lead@contoso.example", ("agent@contoso.example", "liwei@contoso.example"),
     ("network", "hardware")),
    ("Security", "信息安全", "lead@contoso.example", ("agent@contoso.example",), ("security",)),
]
# email, capacity (weighted open tickets), languages, skills (top categories)
DEMO_AGENTS = [
    ("agent@contoso.example", 10, "en", ("hardware", "network", "security", "access", "software")),
    ("liwei@contoso.example", 8, "zh,en", ("software", "network", "access", "service")),
]


def seed_demo_teams(session: Session) -> None:
    """The demo teams, ownership, agent profiles and skills; adds what is missing, changes nothing else."""
    from sqlalchemy import select

    from kb.taxonomy import get_category
    from kb.teams import AgentProfile, AgentSkill, Team, TeamCategory, TeamMember

    for name, name_zh, lead_email, members, owned in DEMO_TEAMS:
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None:
            lead = get_user_by_email(session, lead_email)
            team = Team(name=name, name_zh=name_zh, lead_id=lead.id if lead else None)
            session.add(team)
            session.flush()
        for email in members:
            user = get_user_by_email(session, email)
            if user is not None and session.get(TeamMember, (team.id, user.id)) is None:
                session.add(TeamMember(team_id=team.id, user_id=user.id))
        for slug in owned:
            cat = get_category(session, slug)
            if cat is not None and session.get(TeamCategory, cat.id) is None:
                session.add(TeamCategory(category_id=cat.id, team_id=team.id))
    for email, capacity, languages, skills in DEMO_AGENTS:
        user = get_user_by_email(session, email)
        if user is None:
            continue
        if session.get(AgentProfile, user.id) is None:
            session.add(AgentProfile(user_id=user.id, capacity=capacity, languages=languages))
        for slug in skills:
            cat = get_category(session, slug)
            if cat is not None and session.get(AgentSkill, (user.id, cat.id)) is None:
                session.add(AgentSkill(user_id=user.id, category_id=cat.id))
    session.flush()

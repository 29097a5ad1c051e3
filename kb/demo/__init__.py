"""Demo data: one user per role and the sample knowledge base in ``articles/``.

The articles go through the same importer an organisation uses to move in,
so the demo also exercises that path.
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


def load_demo(session: Session, progress: Callable[[int, int], None] | None = None):
    """Seed the taxonomy, the demo users and the demo articles (idempotent)."""
    from kb.importer import import_path

    seed_taxonomy(session)
    for email, name, role, locale in DEMO_USERS:
        if get_user_by_email(session, email) is None:
            create_user(session, None, email=email, name=name, password=DEMO_PASSWORD, role=role, locale=locale)
    author = get_user_by_email(session, "agent@contoso.example")
    return import_path(session, ARTICLES_DIR, author=author, progress=progress)

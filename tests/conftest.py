"""Shared fixtures: an app built from the factory per test, fresh SQLite file and index,
the fast deterministic embedder, and factories for users and articles."""
from __future__ import annotations

import itertools
import os
import re

import pytest
from sqlalchemy.engine import make_url

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from kb.articles_models import Article, Tag  # noqa: E402
from kb.jobs import enqueue  # noqa: E402
from kb.taxonomy import get_category, seed_taxonomy  # noqa: E402
from kb.users import create_user  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db as _db  # noqa: E402

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


DATABASE = "sqlite"  # or "postgresql": `pytest --database postgresql` runs the tests on pgserver


def pytest_addoption(parser):
    parser.addoption("--database", choices=("sqlite", "postgresql"),
                     default=os.environ.get("HELPDESK_TEST_DATABASE", "sqlite"),
                     help="the database the app fixtures use (default sqlite; postgresql: pgserver, see tests/pg.py)")


def pytest_configure(config):
    global DATABASE
    DATABASE = config.getoption("--database")


def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``): a
    file's tests stay on one worker, so its module fixtures run once, and the browser tests
    share one live portal (its real-model demo index is built once, not once per worker)."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group("e2e" if path.startswith("tests/e2e/") else path))


def database_url_for(tmp_path) -> str:
    """A fresh, empty-schema database for one app: a SQLite file, or a PostgreSQL database
    copied from the session's template (schema and taxonomy already in it)."""
    if DATABASE == "postgresql":
        from tests import pg

        return pg.url(pg.new_database(template=_pg_template()))
    return f"sqlite:///{tmp_path / 'test.db'}"


_template: list[str] = []


def _pg_template() -> str:
    if not _template:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        from kb import models  # noqa: F401
        from kb.db import Base
        from tests import pg

        name = pg.new_database()
        engine = create_engine(pg.url(name))
        Base.metadata.create_all(engine)
        with Session(engine) as s:
            seed_taxonomy(s)
            s.commit()
        engine.dispose()
        _template.append(name)
    return _template[0]


def make_app(tmp_path, **overrides):
    url = overrides.pop("SQLALCHEMY_DATABASE_URI", None) or database_url_for(tmp_path)
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": url,
        # On PostgreSQL the search index lives there too (full-text search and pgvector).
        "SEARCH_BACKEND": "postgresql" if url.startswith("postgresql") else "local",
        "SEARCH_DATABASE_URL": url if url.startswith("postgresql") else "",
        "INDEX_PATH": str(tmp_path / "index"),
        "EMBEDDING_MODEL": "hash",
        "WORKER": "off",
        "SECRET_KEY": "test-secret",
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
    }
    config.update(overrides)
    return create_app(config)


def _fresh_request_globals(app):
    """The fixture keeps one app context open (for ``session``), and Flask reuses it for
    test requests, so ``g`` would outlive a request. Real requests each get a fresh ``g``;
    drop the per-request caches (CSRF token, logged-in user, chosen locale) to behave the same."""
    from flask import g
    from flask_babel import refresh

    def _clear():
        for key in ("csrf_token", "_login_user"):
            g.pop(key, None)
        refresh()
    app.before_request_funcs.setdefault(None, []).insert(0, _clear)


@pytest.fixture
def app(tmp_path):
    yield from running_app(make_app(tmp_path))


def running_app(app):
    """Body of an ``app`` fixture: tables and taxonomy created, one app context open for the
    test, everything (search engine, connections, a PostgreSQL test database) closed after."""
    _fresh_request_globals(app)
    with app.app_context():
        _db.create_all()
        seed_taxonomy(_db.session)
        _db.session.commit()
        yield app
        _db.session.remove()
        app.extensions["helpdesk_search"].close()
        _db.engine.dispose()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        from tests import pg

        pg.drop_database(url.database)


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def session(db):
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf_app(app):
    """The same app with CSRF protection switched on, for the tests that prove it is enforced.

    Flask-WTF reads the flag per request, so the other fixtures (session, make_user, ...)
    keep working against the same database."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield app
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def make_user(session):
    def factory(role="requester", email=None, name=None, locale=None, password=PASSWORD):
        n = next(_seq)
        user = create_user(session, None, email=email or f"{role}{n}@example.test", name=name or f"{role.title()} {n}",
                           password=password, role=role, locale=locale)
        session.commit()
        return user
    return factory


@pytest.fixture
def make_article(session):
    """Insert an article row directly (services are tested on their own) and enqueue its index job."""
    def factory(title="How to reset your password", body="Open the self-service page and choose Reset.",
                category="access", subcategory=None, tags=(), audience="public", status="published",
                lang="en", author=None):
        cat = get_category(session, category)
        sub = get_category(session, subcategory) if subcategory else None
        tag_rows = []
        for name in tags:
            tag = session.query(Tag).filter_by(name=name).one_or_none() or Tag(name=name)
            tag_rows.append(tag)
        article = Article(title=title, body=body, category=cat, subcategory=sub, tags=tag_rows, audience=audience,
                          status=status, lang=lang, author=author)
        session.add(article)
        session.flush()
        enqueue(session, "index_article", article.id)
        session.commit()
        return article
    return factory


@pytest.fixture
def index_now(app, session):
    """Apply pending index jobs synchronously (the worker thread is off in tests)."""
    from kb.indexing import process_jobs
    from portal.search_ext import engine

    def run():
        n = 0
        while (m := process_jobs(session, engine())):
            n += m
            session.commit()
        return n
    return run


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def login(client):
    def do(user, password=PASSWORD):
        resp = client.post("/login", data={"email": user.email, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return user
    return do

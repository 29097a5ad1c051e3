"""Migrations are the schema: `upgrade` on an empty database yields exactly the models, on
SQLite and on PostgreSQL (pgserver: PostgreSQL 16 with pgvector); downgrade to the base and
upgrade again, and the newest revision down and up, leave the same schema."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

import pytest

from kb.db import Base
from tests import pg
from tests.conftest import make_app


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    name = pg.new_database()
    try:
        yield pg.url(name)
    finally:
        pg.drop_database(name)


def _diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return diff


def test_upgrade_from_empty_matches_models(tmp_path, url):
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
    assert _diff(url) == []


def test_downgrade_to_base_and_back(tmp_path, url):
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade()
    assert _diff(url) == []


def test_newest_revision_down_and_up(tmp_path, url):
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        downgrade(revision="-1")
        upgrade()
    assert _diff(url) == []

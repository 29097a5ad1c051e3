"""Rate limits shared by every app process through the real Redis on 127.0.0.1:6379 (no fakes).

Two ``create_app`` calls stand for two gunicorn workers (or two app servers). Flask-Limiter's
``limiter`` is one module object, and ``init_app`` gives it a fresh store, so app B starting
after app A's attempts counts from zero unless the store is shared: with ``memory://`` the
4th attempt passes (the control test), with Redis it is refused.
"""
from __future__ import annotations

import uuid

import pytest

from portal.config import Settings, resolve
from tests.conftest import make_app

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # a missing service is a failure, not a skip
        pytest.fail(f"Redis is not running on {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def unique():
    """A key prefix and client address used by this test only; every key with them is removed after."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def cleanup(redis_client, unique):
    yield
    for key in redis_client.scan_iter(match=f"*{unique}*"):
        redis_client.delete(key)


def _app(tmp_path, name, unique, **overrides):
    from kb.taxonomy import seed_taxonomy
    from portal.extensions import db

    app = make_app(tmp_path / name, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute",
                   RATELIMIT_KEY_PREFIX=f"test-{unique}", **overrides)
    with app.app_context():
        db.create_all()
        seed_taxonomy(db.session)
        db.session.commit()
        db.session.remove()
    return app


def _failed_logins(app, n, address):
    from portal.extensions import db

    with app.app_context():
        client = app.test_client()
        codes = [client.post("/login", data={"email": "x@example.test", "password": "wrong-password"},
                             environ_base={"REMOTE_ADDR": address}).status_code for _ in range(n)]
        db.session.remove()
    return codes


def _address(unique: str) -> str:
    """A made-up IPv6 client address that contains the unique string (so cleanup finds its keys)."""
    return "fd00::" + ":".join(unique[i:i + 4] for i in range(0, 12, 4))


def test_redis_is_the_store_when_redis_is_configured(tmp_path):
    cfg = resolve(Settings.from_env({"HELPDESK_REDIS_URL": REDIS_URL}), str(tmp_path))
    assert cfg["RATELIMIT_STORAGE_URI"] == REDIS_URL
    socket = resolve(Settings.from_env({"HELPDESK_REDIS_URL": "unix:///run/redis.sock"}), str(tmp_path))
    assert socket["RATELIMIT_STORAGE_URI"] == "redis+unix:///run/redis.sock"
    own = resolve(Settings.from_env({"HELPDESK_REDIS_URL": REDIS_URL,
                                     "HELPDESK_RATELIMIT_STORAGE_URI": "memcached://cache:11211"}), str(tmp_path))
    assert own["RATELIMIT_STORAGE_URI"] == "memcached://cache:11211"  # an explicit choice wins
    assert resolve(Settings.from_env({}), str(tmp_path))["RATELIMIT_STORAGE_URI"] == "memory://"


def test_two_apps_sharing_redis_share_the_login_limit(tmp_path, monkeypatch, redis_client, unique, cleanup):
    monkeypatch.setenv("HELPDESK_REDIS_URL", REDIS_URL)  # RATELIMIT_STORAGE_URI left at its default
    address = _address(unique)
    app_a = _app(tmp_path, "a", unique)
    assert app_a.config["RATELIMIT_STORAGE_URI"] == REDIS_URL
    first = _failed_logins(app_a, 2, address)
    app_b = _app(tmp_path, "b", unique)  # a second worker: its own app, the same Redis
    second = _failed_logins(app_b, 2, address)
    assert first == [401, 401] and second == [401, 429]
    assert [k for k in redis_client.scan_iter(match=f"*{unique}*")], "the counter should be in Redis"
    assert _failed_logins(app_a, 1, address) == [429]  # and app A sees app B's attempts too


def test_control_without_redis_each_app_counts_alone(tmp_path, monkeypatch, unique):
    monkeypatch.delenv("HELPDESK_REDIS_URL", raising=False)
    address = _address(unique)
    app_a = _app(tmp_path, "a", unique)
    assert app_a.config["RATELIMIT_STORAGE_URI"] == "memory://"
    first = _failed_logins(app_a, 2, address)
    app_b = _app(tmp_path, "b", unique)
    assert first + _failed_logins(app_b, 2, address) == [401, 401, 401, 401]

"""Liveness (/healthz) and readiness (/readyz: database, index and model, and with WORKER=rq
the queue: Redis answers, how many jobs wait, how many failed)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from portal.extensions import db, limiter
from portal.search_ext import holder

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        h = holder()
        checks["model"] = f"ok ({h.embedder().name})"
        checks["index"] = f"ok ({h.engine.count()} documents)"
    except Exception as exc:  # noqa: BLE001
        checks["index"] = f"error: {exc}"
        checks.setdefault("model", "unknown")
    if current_app.config["WORKER"] == "rq":
        checks["queue"] = _queue_check()
    ready = all(v.startswith("ok") for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)


def _queue_check() -> str:
    """Redis ping, jobs waiting and failed jobs; an unreachable Redis fails readiness (index
    updates and periodic tasks would not run), with the reason."""
    from redis.exceptions import RedisError

    from portal.jobs.connection import describe_url, queue_for, redis_for

    app = current_app._get_current_object()
    try:
        redis_for(app).ping()
        queue = queue_for(app)
        return f"ok ({queue.name}: {queue.count} waiting, {queue.failed_job_registry.count} failed)"
    except RedisError as exc:
        return f"error: Redis unreachable at {describe_url(app.config['REDIS_URL'])} ({type(exc).__name__}: {exc})"

"""Liveness (/healthz) and readiness (/readyz: database, index and model)."""
from __future__ import annotations

from flask import Blueprint, jsonify
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
    ready = all(v.startswith("ok") for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)

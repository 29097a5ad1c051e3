"""The web shell: one factory that only wires extensions, blueprints and commands."""
from __future__ import annotations

import os

from flask import Flask

from portal.config import ConfigError, Settings, resolve

__all__ = ["create_app", "ConfigError"]


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` overrides the environment (tests pass paths and flags)."""
    app = Flask(__name__, instance_relative_config=False)
    settings = Settings.from_env()
    overrides = dict(config or {})
    if "INSTANCE_PATH" in overrides:
        settings.INSTANCE_PATH = overrides["INSTANCE_PATH"]
    default_instance = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instance")
    app.config.update(resolve(settings, default_instance))
    app.config.update(overrides)
    app.instance_path = app.config["INSTANCE_PATH"]
    from portal import logs
    logs.init_app(app)  # first, so the request id exists before any other hook logs

    from portal import auth, admin, articles, health, i18n, intake, search_ext, security, errors, tickets, satisfaction, desk
    from portal.extensions import babel, csrf, db, limiter, login_manager, migrate
    from kb import models  # noqa: F401  (every table in Base.metadata, before anything queries)
    from kb.db import configure_sqlite

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
                     render_as_batch=True)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    security.init_app(app, login_manager)
    search_ext.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)

    for bp in (health.bp, auth.bp, admin.bp, articles.bp, intake.bp, tickets.bp, satisfaction.bp, desk.bp):
        app.register_blueprint(bp)
    from portal import insights, manual, notifications, reports  # SLA pages, reports and insights
    for bp in (manual.bp, notifications.bp, reports.bp, insights.bp):
        app.register_blueprint(bp)
    from portal.service_admin import bp as service_admin_bp
    app.register_blueprint(service_admin_bp)
    from portal import api, mail_admin, outbox, phone  # channels: API and chat webhook, mail admin, calls
    from portal import collections  # learning paths (issue 5)
    for bp in (*api.BLUEPRINTS, mail_admin.bp, outbox.bp, phone.bp, collections.bp):
        app.register_blueprint(bp)

    if app.config.get("PROXY_FIX"):
        # Behind N proxies: the client address and scheme come from X-Forwarded-For/-Proto (the
        # last N hops only), so rate limits, logs and secure redirects see the real client. The
        # Host header is the proxy's to pass on (docs/deploy.md); X-Forwarded-Host is not trusted.
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = app.config["PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0, x_prefix=0)

    from portal.cli import register_cli
    register_cli(app)
    return app

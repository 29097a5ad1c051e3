"""Login wiring, the current actor, and the security headers on every response."""
from __future__ import annotations

from flask import Flask
from flask_login import current_user

from kb.users import User

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")


def actor() -> User | None:
    """The logged-in user, or None for anonymous visitors: what kb services take."""
    user = current_user._get_current_object() if current_user else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def init_app(app: Flask, login_manager) -> None:
    from portal.extensions import db

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.is_active else None

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def inject_permissions():
        from kb import permissions
        return {"perm": permissions, "actor": actor()}

"""The JSON REST API for integrations (/api/v1), its OpenAPI document and the chat webhook.

Each module registers its routes on a blueprint listed in :data:`BLUEPRINTS`, which the app
factory registers. The API blueprints are CSRF-exempt because they never act on a browser
session: /api/v1 authenticates by bearer token (:mod:`portal.api.auth`), the chat webhook
by HMAC signature (:mod:`portal.api.chat`).
"""
from flask import Blueprint

from portal.api import auth, errors
from portal.extensions import csrf, limiter

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
errors.install(bp)
errors.install_unmatched(bp)
bp.before_request(auth.authenticate)
limiter.limit(auth.rate_limit, key_func=auth.rate_key)(bp)

from portal.api import search, tickets  # noqa: E402,F401  (register routes on bp)
from portal.api import chat, chat_admin, openapi, tokens_page  # noqa: E402

BLUEPRINTS = [bp, chat.bp, openapi.bp, tokens_page.bp, chat_admin.bp]

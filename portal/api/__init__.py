"""The JSON REST API for integrations (/api/v1), its OpenAPI document and the chat webhook.

Filled in by issue 4's API work; each module registers its routes on a blueprint listed
in :data:`BLUEPRINTS`, which the app factory registers.
"""
from flask import Blueprint

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

BLUEPRINTS = [bp]

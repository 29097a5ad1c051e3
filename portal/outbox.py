"""Admin page for outgoing mail: the outbox, failed sends and retrying them."""
from flask import Blueprint

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

"""Ticket pages: one blueprint, one module per concern (each registers its routes on ``bp``)."""
from flask import Blueprint

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

from portal.tickets import views  # noqa: E402,F401  (registers routes)

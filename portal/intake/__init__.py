"""Get help: search-first intake, honest deflection, and the deflection report."""
from flask import Blueprint

bp = Blueprint("intake", __name__)

from portal.intake import api, reports, views  # noqa: E402,F401  (routes register on bp)

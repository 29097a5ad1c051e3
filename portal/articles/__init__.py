"""Knowledge-base pages: browse, search, read and rate; write, review and compare revisions.

Views are thin: parse the request, call one kb service, commit once, render.
"""
from flask import Blueprint

bp = Blueprint("articles", __name__, url_prefix="/kb")

from portal.articles import editing, health, reading, suggestions  # noqa: E402,F401 - registers the routes

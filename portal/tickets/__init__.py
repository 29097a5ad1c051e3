"""Ticket pages: one blueprint, one module per concern (each registers its routes on ``bp``)."""
from flask import Blueprint

bp = Blueprint("tickets", __name__, url_prefix="/tickets")

# Each module registers its routes on bp.
from portal.tickets import actions, attachments, audit, drafting, grouping, mail_links, survey, views  # noqa: E402,F401


@bp.app_template_filter("markdown")
def markdown_filter(text: str | None):
    """Messages and plans are Markdown, rendered and sanitised (kb.markdown) like articles."""
    from markupsafe import Markup

    from kb.markdown import render
    return Markup(render(text or ""))

"""GET /api/suggest: ranked articles for the text typed so far (JSON), recorded in the intake session."""
from __future__ import annotations

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _

from kb import intake
from kb.errors import KBError
from kb.search_service import Suggestion, clean_query, search_articles
from portal.errors import error_response
from portal.extensions import db, limiter
from portal.i18n import current_lang
from portal.intake import bp, browser
from portal.search_ext import engine
from portal.security import actor
from search import IndexMismatchError

MAX_LIMIT = 20


class BadParameter(ValueError):
    pass


def _suggest_limit() -> str:
    return current_app.config["SUGGEST_RATE_LIMIT"]


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return current_app.config["SUGGEST_LIMIT"]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadParameter(_("limit must be a whole number from 1 to %(max)s.", max=MAX_LIMIT))
    return int(raw)


def clean(text: str | None) -> str:
    return clean_query(text, current_app.config["MAX_QUERY_CHARS"])


def find(text: str, limit: int) -> list[Suggestion]:
    """Raises IndexMismatchError when the index must be rebuilt."""
    return search_articles(db.session, actor(), engine(), text, limit=limit,
                           max_chars=current_app.config["MAX_QUERY_CHARS"])


def record(token: str | None, text: str, suggestions: list[Suggestion]) -> bool:
    """Record the query if this browser owns the token; commits. False if nothing was written."""
    if not token or not browser.owns(token):
        return False
    try:
        written = intake.record_query(db.session, actor(), token, text, [s.article.id for s in suggestions])
    except KBError:
        db.session.rollback()
        return False
    db.session.commit()
    return written is not None


def article_url(article_id: int, **params) -> str:
    return url_for("articles.article", article_id=article_id, **params)


def open_url(token: str | None, article_id: int) -> str:
    if token and browser.owns(token):
        return url_for("intake.open_article", token=token, article_id=article_id)
    return article_url(article_id)


@bp.get("/api/suggest")
@limiter.limit(_suggest_limit)
def suggest():
    try:
        limit = parse_limit(request.args.get("limit"))
    except BadParameter as exc:
        return error_response(400, str(exc))
    text = clean(request.args.get("q"))
    token = request.args.get("intake") or None
    try:
        suggestions = find(text, limit) if text else []
    except IndexMismatchError as exc:
        return error_response(503, str(exc))
    recorded = record(token, text, suggestions) if text else False
    locale = current_lang()
    items = []
    for s in suggestions:
        item = s.as_json(locale)
        item["url"] = open_url(token, s.article.id)
        items.append(item)
    return jsonify({"query": text, "suggestions": items, "recorded": recorded})

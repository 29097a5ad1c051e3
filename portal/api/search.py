"""/api/v1/search: knowledge search with the caller's visibility (the same service and
permission filter as the portal's search and suggestions)."""
from __future__ import annotations

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _

from kb.search_service import clean_query, search_articles
from portal.api import bp
from portal.api.auth import api_actor
from portal.api.common import int_arg, json_body, public_url, string_field
from portal.api.errors import ApiError
from portal.extensions import db
from portal.search_ext import engine
from search import IndexMismatchError

MAX_LIMIT = 20


def _params() -> tuple[str, int]:
    """GET takes ``q`` and ``limit`` in the query string; POST the same names in a JSON body
    (for long texts: proxies and servers cap the length of a URL)."""
    default = current_app.config["SUGGEST_LIMIT"]
    if request.method == "GET":
        return request.args.get("q") or "", int_arg("limit", default, 1, MAX_LIMIT)
    data = json_body(("q", "limit"))
    limit = data.get("limit", default)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, _("“%(name)s” must be a whole number from %(low)s to %(high)s.", name="limit", low=1,
                              high=MAX_LIMIT), code="validation_error", field="limit")
    return string_field(data, "q") or "", limit


@bp.route("/search", methods=["GET", "POST"])
def search():
    actor = api_actor()
    max_chars = current_app.config["MAX_QUERY_CHARS"]
    raw, limit = _params()
    if len(raw) > max_chars:  # refused, not silently cut: the caller would get answers to another question
        raise ApiError(400, _("The query can have at most %(max)s characters (this one has %(n)s).", max=max_chars,
                              n=len(raw)), code="validation_error", field="q")
    text = clean_query(raw, max_chars)
    if not text:
        raise ApiError(400, _("Give the text to search for in “q”."), code="validation_error", field="q")
    try:
        found = search_articles(db.session, actor, engine(), text, limit=limit, max_chars=max_chars)
    except IndexMismatchError:
        raise ApiError(503, _("The search index is being rebuilt; try again in a few minutes.")) from None
    locale = "zh" if (actor.locale or "").startswith("zh") else "en"
    items = []
    for s in found:
        item = s.as_json(locale)
        item["url"] = public_url(url_for("articles.article", article_id=s.article.id))
        items.append(item)
    return jsonify({"query": text, "items": items})

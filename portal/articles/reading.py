"""Reading the knowledge base: browse, category lists, search, an article, and rating it."""
from __future__ import annotations

import logging
import secrets

from flask import flash, redirect, render_template, request, session, url_for
from markupsafe import Markup
from flask_babel import gettext as _

from kb import articles, draft_dedup, drafting, markdown, permissions
from kb.article_votes import get_vote
from kb.errors import NotFound
from kb.search_service import clean_query, related_articles, search_articles
from kb.taxonomy import get_category, top_categories
from portal.articles import bp
from portal.articles.forms import TransitionForm, VoteForm
from portal.articles.health import health_for_page
from portal.extensions import db
from portal.i18n import current_lang
from portal.search_ext import engine
from portal.security import actor
from search import IndexMismatchError

log = logging.getLogger(__name__)
PER_PAGE = 20
VOTER_SESSION_KEY = "kb_voter"


def voter_key(create: bool = False) -> str | None:
    """"user:<id>" when logged in, else a random key kept in this browser's session."""
    user = actor()
    if user is not None:
        return f"user:{user.id}"
    if VOTER_SESSION_KEY not in session and create:
        session[VOTER_SESSION_KEY] = secrets.token_urlsafe(16)
    key = session.get(VOTER_SESSION_KEY)
    return f"anon:{key}" if key else None


@bp.get("/")
def browse():
    who = actor()
    return render_template("articles/browse.html", categories=top_categories(db.session),
                           counts=articles.category_counts(db.session, who),
                           recent=articles.list_articles(db.session, who, per_page=8).items,
                           popular=articles.list_articles(db.session, who, per_page=8, order="views").items,
                           locale=current_lang())


@bp.get("/category/<slug>")
def category(slug: str):
    cat = get_category(db.session, slug)
    if cat is None:
        raise NotFound(_("We could not find that category."))
    who = actor()
    status = (request.args.get("status") or None) if permissions.is_staff(who) else None
    page = articles.list_articles(db.session, who, category=slug, status=status,
                                  page=max(request.args.get("page", 1, type=int), 1), per_page=PER_PAGE)
    return render_template("articles/category.html", category=cat, pagination=page, status=status or "",
                           counts=articles.category_counts(db.session, who), locale=current_lang())


@bp.get("/search")
def search():
    q = clean_query(request.args.get("q"))
    cat = request.args.get("category") or None
    if cat and get_category(db.session, cat) is None:
        cat = None
    results = search_articles(db.session, actor(), engine(), q, limit=20, category=cat) if q else []
    return render_template("articles/search.html", q=q, results=results, category=cat,
                           categories=top_categories(db.session), locale=current_lang())


def _related(article):
    """Related articles are a nicety: a search index being rebuilt must not break the page."""
    try:
        return related_articles(db.session, actor(), engine(), article)
    except IndexMismatchError:
        log.warning("related articles unavailable: the search index needs a rebuild")
        return []


@bp.get("/<int:article_id>")
def article(article_id: int):
    who = actor()
    item = articles.get_article(db.session, who, article_id)
    if item.status == "published":
        articles.record_view(db.session, item)
    db.session.commit()
    key = voter_key()
    return render_template("articles/article.html", article=item, locale=current_lang(),
                           body_html=Markup(markdown.render(item.body)),  # sanitised by kb.markdown
                           counts=articles.vote_counts(db.session, item),
                           my_vote=get_vote(db.session, key, item) if key else None,
                           related=_related(item) if item.status == "published" else [],
                           transitions=articles.allowed_transitions(who, item),
                           transition_form=TransitionForm(), vote_form=VoteForm(),
                           revision=articles.current_revision_number(item),
                           health_box=health_for_page(item),
                           drafted_from=drafting.drafted_from(db.session, who, item),  # staff only
                           suggestions=draft_dedup.open_suggestions(db.session, who, article=item))  # staff only


@bp.post("/<int:article_id>/vote")
def vote(article_id: int):
    item = articles.get_article(db.session, actor(), article_id)
    form = VoteForm()
    if not form.validate_on_submit():
        flash(_("Choose yes or no."), "error")
        return redirect(url_for("articles.article", article_id=item.id))
    articles.vote_article(db.session, voter_key(create=True), item, form.helpful.data == "yes")
    db.session.commit()
    flash(_("Thank you for your feedback."), "success")
    return redirect(url_for("articles.article", article_id=item.id, _anchor="feedback"))

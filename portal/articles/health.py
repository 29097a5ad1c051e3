"""Article health for team leads: the "needs attention" list (/kb/health), "Mark reviewed",
and the figures for the small health box on an article page (kb.article_health)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from kb import articles, permissions
from kb.article_health import FLAGS, Thresholds, health_of, mark_reviewed, needs_attention
from kb.db import utcnow
from kb.errors import InvalidTransition
from portal.articles import bp
from portal.articles.editing import _need_login
from portal.auth import safe_next
from portal.extensions import db
from portal.security import actor

PER_PAGE = 25
FLAG_LABELS = {"reopened": _l("Reopened tickets"), "voted_down": _l("Voted down"), "stale": _l("Stale")}
assert set(FLAG_LABELS) == set(FLAGS)


def limits() -> Thresholds:
    """The thresholds from the configuration (HELPDESK_ARTICLE_STALE_DAYS,
    HELPDESK_DEFLECTION_WINDOW_DAYS); the vote and reopen thresholds are kb defaults."""
    config = current_app.config
    return Thresholds(stale_days=int(config.get("ARTICLE_STALE_DAYS", Thresholds.stale_days)),
                      deflection_window_days=int(config.get("DEFLECTION_WINDOW_DAYS",
                                                            Thresholds.deflection_window_days)))


def health_for_page(article) -> dict | None:
    """The article page's health box: for staff only (requesters see the article, not its figures)."""
    if not permissions.is_staff(actor()):
        return None
    now = utcnow()
    health = health_of(db.session, [article.id], now=now, limits=limits()).get(article.id)
    return {"health": health, "now": now, "limits": limits(), "labels": FLAG_LABELS} if health else None


@bp.get("/health")
def health():
    _need_login()
    who = actor()
    permissions.require(permissions.can_view_article_health(who), _("Only team leads and admins see article health."))
    flag = request.args.get("flag") or None
    if flag not in FLAGS:
        flag = None
    now = utcnow()
    page = needs_attention(db.session, who, page=max(request.args.get("page", 1, type=int), 1), per_page=PER_PAGE,
                           now=now, flag=flag, limits=limits())
    return render_template("articles/health.html", pagination=page, flag=flag, labels=FLAG_LABELS, now=now,
                           limits=limits())


@bp.post("/<int:article_id>/reviewed")
def reviewed(article_id: int):
    _need_login()
    who = actor()
    item = articles.get_article(db.session, who, article_id)
    target = safe_next(request.form.get("next")) if request.form.get("next") else url_for("articles.health")
    try:
        mark_reviewed(db.session, who, item)
    except InvalidTransition as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target, 303)
    db.session.commit()
    flash(_("Marked as reviewed: “%(title)s” is no longer stale.", title=item.title), "success")
    return redirect(target, 303)

"""The periodic review in the portal: the archive (/insights/reviews), one review as a page,
as a self-contained HTML document (the mail and ``flask insights report``'s file) and as CSV,
and :func:`publish_review` / :func:`publish_due_reviews`, which build one through
kb.insight_review, keep it and mail it to the leads, each in their own language.

The worker calls :func:`publish_due_reviews` after its SLA pass: a period that has ended and
has no review yet gets one (``REVIEW_PERIODS``, default ``week``; empty: never).
"""
from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime

from flask import Flask, Response, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kb import insight_review as reviews
from kb import permissions
from kb.db import utcnow
from kb.errors import ValidationError
from kb.notifications import notify
from kb.users import Role, User
from portal.extensions import db
from portal.insight_pages import CLOCK_NAMES, DIMENSION_NAMES, TREND_NAMES
from portal.insights import bp
from portal.security import actor

log = logging.getLogger(__name__)
KIND_NAMES = {"week": _l("Weekly review"), "month": _l("Monthly review")}
FIGURE_NAMES = {
    "tickets filed": _l("Tickets filed"), "resolution rate": _l("Resolution rate"), "reopen rate": _l("Reopen rate"),
    "first-contact resolution": _l("First-contact resolution"),
    "response target met": _l("First response within target"),
    "resolution target met": _l("Resolution within target"),
    "satisfaction: response speed": DIMENSION_NAMES["speed"],
    "satisfaction: effectiveness": DIMENSION_NAMES["effectiveness"],
    "satisfaction: communication": DIMENSION_NAMES["communication"],
    "self-service sessions": _l("Self-service sessions"), "honest deflection rate": _l("Honest deflection rate"),
}


# -- wording -------------------------------------------------------------------------------

def figure_value(unit: str, value) -> str:
    if value is None:
        return "–"
    if unit == "rate":
        return f"{value * 100:.0f} %"
    if unit == "rating":
        return f"{value:.2f}"
    return str(int(value))


def figure_change(f: reviews.Figure) -> str:
    """"+3", "−4 points", "+0.20" or "" with nothing to compare."""
    change = f.change
    if change is None:
        return ""
    if f.unit == "rate":
        points = round(change * 100)
        return _("%(n)s points", n=f"{points:+d}".replace("-", "−")) if points else _("no change")
    if f.unit == "rating":
        return f"{change:+.2f}".replace("-", "−") if round(change, 2) else _("no change")
    return f"{int(change):+d}".replace("-", "−") if change else _("no change")


def action_text(a: dict) -> str:
    """One suggested action as a sentence in the current language."""
    kind, n = a["kind"], a.get("count", 0)
    if kind == "draft_article":
        return _("“%(subject)s”: %(n)d tickets (%(before)d the period before), no article: draft one.",
                 subject=a["subject"], n=n, before=a["previous"])
    if kind == "check_article":
        return _("“%(subject)s” grew from %(before)d to %(n)d tickets although “%(article)s” covers it: check the "
                 "article still answers it.", subject=a["subject"], before=a["previous"], n=n, article=a["article"])
    if kind == "sla_area" and a.get("team_id") is None:
        return _("Tickets with no team: %(n)d %(clock)s targets missed (%(share)s met): route them to a team sooner.",
                 n=n, clock=str(CLOCK_NAMES[a["clock"]]).lower(), share=figure_value("rate", a["compliance"]))
    if kind == "sla_area":
        return _("%(team)s: %(n)d %(clock)s targets missed (%(share)s met): look at the queue and the rota.",
                 team=a["subject"], n=n, clock=str(CLOCK_NAMES[a["clock"]]).lower(),
                 share=figure_value("rate", a["compliance"]))
    if kind == "content_gap":
        return _("%(n)d self-service sessions asking “%(subject)s” found no answer: write an article for it.",
                 n=n, subject=a["subject"])
    if kind == "satisfaction_fell":
        return _("Satisfaction with %(dimension)s fell from %(before).2f to %(now).2f (%(n)d answers): read the "
                 "lowest-rated tickets below.", dimension=str(FIGURE_NAMES[a["subject"]]).lower(),
                 before=a["previous"], now=a["current"], n=n)
    if kind == "reopens_rose":
        return _("The reopen rate rose from %(before)s to %(now)s: check that resolutions are confirmed with the "
                 "requester.", before=figure_value("rate", a["previous"]), now=figure_value("rate", a["current"]))
    return kind


def review_title(review: reviews.Review) -> str:
    return _("%(kind)s, %(since)s to %(until)s", kind=KIND_NAMES[review.kind], since=review.since,
             until=review.until)


def _context(review: reviews.Review, base: str) -> dict:
    return {"review": review, "title": review_title(review), "base": base, "figure_names": FIGURE_NAMES,
            "figure_value": figure_value, "figure_change": figure_change, "action_text": action_text,
            "clock_names": CLOCK_NAMES, "trend_names": TREND_NAMES}


def render_document(review: reviews.Review, review_id: int | None = None) -> str:
    """The review as one HTML file with its own styles (mail and file: no portal around it)."""
    base = (current_app.config.get("BASE_URL") or "").rstrip("/")
    return render_template("insights/review_document.html", review_id=review_id, **_context(review, base))


def render_text(review: reviews.Review) -> str:
    """The plain-text part of the mail: the indicators and the suggested actions."""
    lines = [review_title(review), ""]
    for f in review.figures:
        change = figure_change(f)
        lines.append(f"- {FIGURE_NAMES.get(f.key, f.key)}: {figure_value(f.unit, f.current)}"
                     + (f" ({change})" if change else ""))
    if review.actions:
        lines += ["", _("Suggested actions"), *(f"- {action_text(a)}" for a in review.actions)]
    return "\n".join(lines)


def review_csv(review: reviews.Review) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(review.rows())
    return out.getvalue()


def csv_name(review: reviews.Review) -> str:
    return f"review-{review.kind}-{review.since}.csv"


# -- publishing ----------------------------------------------------------------------------

def _builder(recipients: list[User]) -> User | None:
    """Whose rights the review is built with: a recipient, else an admin (the command line)."""
    if recipients:
        return recipients[0]
    return db.session.scalar(select(User).where(User.role == Role.ADMIN.value, User.active.is_(True))
                             .order_by(User.id).limit(1))


def build(kind: str, *, today: date | None = None, since: date | None = None, embedder=None,
          now: datetime | None = None, recipients: list[User] | None = None) -> reviews.Review:
    """The review of a period, built with a lead's (or an admin's) rights."""
    builder = _builder(reviews.review_recipients(db.session) if recipients is None else recipients)
    if builder is None:
        raise ValidationError("There is no lead or admin to build the review for.", "period")
    return reviews.build_review(db.session, builder, kind, today=today, since=since, embedder=embedder, now=now)


def publish_review(kind: str, *, today: date | None = None, since: date | None = None, send: bool = True,
                   embedder=None, now: datetime | None = None) -> reviews.InsightReview:
    """Build the review, keep it and (``send``) tell every lead in the app and by mail, with the
    HTML document and the CSV attached. Commits. A second call for the same period raises
    ValidationError (one review per period)."""
    now = now or utcnow()
    recipients = reviews.review_recipients(db.session)
    review = build(kind, today=today, since=since, embedder=embedder, now=now, recipients=recipients)
    try:
        row = reviews.store_review(db.session, review, recipients=len(recipients) if send else 0)
    except IntegrityError:
        db.session.rollback()
        raise ValidationError(f"The {kind} from {review.since} has a review already.", "period") from None
    if send:
        for user in recipients:
            with force_locale(user.locale or "en"):
                notify(db.session, user.id, "review", review_title(review), now=now, body=render_text(review),
                       links=[(_("Open the review"), f"/insights/reviews/{row.id}")],
                       html=render_document(review, row.id),
                       attachments=[(csv_name(review), "text/csv", review_csv(review))])
    db.session.commit()
    return row


def review_periods(app: Flask) -> list[str]:
    wanted = [p.strip() for p in str(app.config.get("REVIEW_PERIODS", "week") or "").split(",") if p.strip()]
    return [p for p in wanted if p in reviews.KINDS]


def publish_due_reviews(app: Flask, *, embedder=None, now: datetime | None = None) -> int:
    """The worker's step: publish the reviews of the periods that ended and have none yet.
    Returns how many. Another worker publishing the same period first is not an error."""
    now = now or utcnow()
    done = 0
    kinds = review_periods(app)
    if not kinds:
        return 0
    for kind, since, _until in reviews.due_periods(db.session, kinds, now.date()):
        if not reviews.review_recipients(db.session):
            return done  # nobody to send it to (yet): try again next pass
        try:
            publish_review(kind, since=since, embedder=embedder, now=now)
            done += 1
        except ValidationError:
            log.info("the %s review from %s was published by another worker", kind, since)
    return done


# -- pages ---------------------------------------------------------------------------------

@bp.get("/reviews")
@login_required
def reviews_index():
    return render_template("insights/reviews.html", entries=reviews.list_reviews(db.session, actor()),
                           kind_names=KIND_NAMES)


@bp.get("/reviews/<int:review_id>")
@login_required
def review_page(review_id: int):
    row = reviews.get_review(db.session, actor(), review_id)
    return render_template("insights/review.html", review_id=row.id, row=row,
                           can_draft=permissions.can_review_article(actor()), **_context(row.review, ""))


@bp.get("/reviews/<int:review_id>.csv")
@login_required
def review_download(review_id: int):
    review = reviews.get_review(db.session, actor(), review_id).review
    return Response(review_csv(review), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{csv_name(review)}"'})

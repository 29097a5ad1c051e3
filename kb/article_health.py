"""Article health: how each article is doing, and which ones a team lead should look at.

An article can look fine and still be failing people: nobody has checked it for a year,
readers vote it down, or tickets "resolved" with it come back. The figures are counted
in the database with one aggregate statement (GROUP BY per source table, joined on the
article), so the cost does not grow with a query per article; the flags are SQL
expressions over the same figures, so the "needs attention" list can filter, sort and
paginate in the database instead of loading every article.

Figures (docs/article-health.md says the same for readers):

* ``views``: ``Article.view_count`` (page opens of the published article).
* ``helpful`` / ``unhelpful``: "Was this helpful?" votes (one per voter, latest answer).
* ``linked_tickets``: tickets that link the article as used for their resolution.
* ``resolved_tickets``: of those, tickets that reached ``resolved`` at least once.
* ``reopened_tickets``: of the resolved ones, tickets reopened *after* the article was
  linked (a reopen before the link was a different attempt). ``reopen_rate`` is
  reopened / resolved.
* ``deflections``: honest deflections credited to the article (kb.deflection): the
  requester said it solved the problem, was logged in, did not file a ticket on the
  same problem, and the follow-up window has passed. Pending (window still open),
  unverifiable (anonymous) and failed ones are counted apart and never credited.

Flags apply to published articles only (drafts are in the review queue, archived ones
are out of use): ``reopened``, ``voted_down`` and ``stale``; see :class:`Thresholds`.
``voted_down`` and ``reopened`` weigh only the evidence since the last review
(``reviewed_at``: "Mark reviewed" or publication): votes cast or changed after it, and
tickets resolved after it. Otherwise a lead who fixed an article could never clear it
from the list, because the old votes about the old text would keep it there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, true, update
from sqlalchemy.orm import Session

from kb import permissions
from kb.articles_models import Article, ArticleVote
from kb.errors import InvalidTransition, ValidationError
from kb.intake_models import DEFLECTED, DeflectionFailure, IntakeSession
from kb.pagination import Paged
from kb.ticket_events import STATUS, TicketEvent
from kb.ticket_flow import REOPENED, RESOLVED
from kb.ticket_records import TicketArticleLink

STALE_DAYS = 180          # portal: HELPDESK_ARTICLE_STALE_DAYS
MIN_VOTES = 5             # fewer votes say too little to call an article bad
UNHELPFUL_PERCENT = 50    # at least half of the votes say "not helpful"
MIN_RESOLVED = 2          # one reopened ticket alone is noise
REOPEN_PERCENT = 25       # a quarter of the tickets resolved with it came back
DEFLECTION_WINDOW_DAYS = 7  # portal: HELPDESK_DEFLECTION_WINDOW_DAYS (kb.deflection)

# Most severe first: a wrong answer that sends people back (reopened) outweighs readers'
# votes, which outweigh age. The weights are powers of two, so any article with a more
# severe flag sorts above every article without it.
FLAGS = ("reopened", "voted_down", "stale")
WEIGHTS = {"reopened": 4, "voted_down": 2, "stale": 1}


@dataclass(frozen=True)
class Thresholds:
    stale_days: int = STALE_DAYS
    min_votes: int = MIN_VOTES
    unhelpful_percent: int = UNHELPFUL_PERCENT
    min_resolved: int = MIN_RESOLVED
    reopen_percent: int = REOPEN_PERCENT
    deflection_window_days: int = DEFLECTION_WINDOW_DAYS


@dataclass(frozen=True)
class ArticleHealth:
    article_id: int
    title: str
    status: str
    audience: str
    views: int
    helpful: int
    unhelpful: int
    linked_tickets: int
    resolved_tickets: int
    reopened_tickets: int
    deflections: int
    deflections_pending: int
    deflections_unverifiable: int
    deflections_failed: int
    helpful_since_review: int         # the evidence the flags weigh (all of it if never reviewed)
    unhelpful_since_review: int
    resolved_since_review: int
    reopened_since_review: int
    reviewed_at: datetime | None      # an explicit review (or the last publication)
    last_reviewed: datetime           # reviewed_at, else published_at, else created_at: what "stale" measures
    flags: tuple[str, ...] = field(default=())

    @property
    def votes(self) -> int:
        return self.helpful + self.unhelpful

    @property
    def votes_since_review(self) -> int:
        return self.helpful_since_review + self.unhelpful_since_review

    @property
    def unhelpful_share(self) -> float | None:
        return self.unhelpful / self.votes if self.votes else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened_tickets / self.resolved_tickets if self.resolved_tickets else None

    @property
    def severity(self) -> int:
        return sum(WEIGHTS[f] for f in self.flags)

    def days_since_review(self, now: datetime) -> int:
        return (now - self.last_reviewed).days


@dataclass
class AttentionPage(Paged):
    items: list[ArticleHealth]
    page: int
    per_page: int
    total: int
    flag: str | None = None


def _n(column):
    return func.coalesce(column, 0)


def _sum_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _health_select(now: datetime, limits: Thresholds):
    """One SELECT: every article with its figures and flag columns (filter it further)."""
    helpful = ArticleVote.helpful == true()
    vote_recent = or_(Article.reviewed_at.is_(None), ArticleVote.created_at > Article.reviewed_at)
    votes = (select(ArticleVote.article_id.label("aid"), _sum_if(helpful).label("helpful"),
                    func.count().label("votes"), _sum_if(and_(vote_recent, helpful)).label("helpful_recent"),
                    _sum_if(vote_recent).label("votes_recent"))
             .join(Article, Article.id == ArticleVote.article_id)
             .group_by(ArticleVote.article_id).subquery("votes"))

    link = TicketArticleLink

    def status_to(status):  # only tickets some article is linked to: less to group
        return and_(TicketEvent.kind == STATUS, TicketEvent.to_status == status,
                    TicketEvent.ticket_id.in_(select(link.ticket_id)))

    def last(status, name):  # per ticket: when it last moved to ``status``
        return (select(TicketEvent.ticket_id.label("tid"), func.max(TicketEvent.created_at).label("last"))
                .where(status_to(status)).group_by(TicketEvent.ticket_id).subquery(name))

    resolved, reopened = last(RESOLVED, "resolved"), last(REOPENED, "reopened")
    was_resolved = resolved.c.tid.is_not(None)
    came_back = and_(was_resolved, reopened.c.last > link.created_at)
    never_reviewed = Article.reviewed_at.is_(None)
    resolved_recent = and_(was_resolved, or_(never_reviewed, resolved.c.last > Article.reviewed_at))
    links = (select(link.article_id.label("aid"), func.count().label("linked"),
                    _sum_if(was_resolved).label("resolved"), _sum_if(came_back).label("reopened"),
                    _sum_if(resolved_recent).label("resolved_recent"),
                    _sum_if(and_(resolved_recent, came_back,
                                 or_(never_reviewed, reopened.c.last > Article.reviewed_at))).label("reopened_recent"))
             .select_from(link)
             .join(Article, Article.id == link.article_id)
             .outerjoin(resolved, resolved.c.tid == link.ticket_id)
             .outerjoin(reopened, reopened.c.tid == link.ticket_id)
             .group_by(link.article_id).subquery("links"))

    horizon = now - timedelta(days=limits.deflection_window_days)
    held = DeflectionFailure.id.is_(None)
    signed_in = IntakeSession.user_id.is_not(None)
    deflections = (select(IntakeSession.deflected_article_id.label("aid"),
                          _sum_if(and_(held, signed_in, IntakeSession.outcome_at <= horizon)).label("confirmed"),
                          _sum_if(and_(held, signed_in, IntakeSession.outcome_at > horizon)).label("pending"),
                          _sum_if(and_(held, IntakeSession.user_id.is_(None))).label("unverifiable"),
                          _sum_if(DeflectionFailure.id.is_not(None)).label("failed"))
                   .select_from(IntakeSession)
                   .outerjoin(DeflectionFailure, DeflectionFailure.session_id == IntakeSession.id)
                   .where(IntakeSession.outcome == DEFLECTED, IntakeSession.deflected_article_id.is_not(None))
                   .group_by(IntakeSession.deflected_article_id).subquery("deflections"))

    n_votes, n_helpful = _n(votes.c.votes), _n(votes.c.helpful)
    recent_votes, recent_helpful = _n(votes.c.votes_recent), _n(votes.c.helpful_recent)
    recent_resolved, recent_reopened = _n(links.c.resolved_recent), _n(links.c.reopened_recent)
    last_reviewed = func.coalesce(Article.reviewed_at, Article.published_at, Article.created_at)
    live = Article.status == "published"
    # Integer percentages keep the edges exact (no float rounding at "exactly half").
    flag_sql = {
        "reopened": and_(live, recent_resolved >= limits.min_resolved,
                         recent_reopened * 100 >= recent_resolved * limits.reopen_percent),
        "voted_down": and_(live, recent_votes >= limits.min_votes,
                           (recent_votes - recent_helpful) * 100 >= recent_votes * limits.unhelpful_percent),
        "stale": and_(live, last_reviewed < now - timedelta(days=limits.stale_days)),
    }
    flag_cols = {name: case((cond, 1), else_=0) for name, cond in flag_sql.items()}
    severity = sum((flag_cols[name] * WEIGHTS[name] for name in FLAGS), literal(0))
    stmt = (select(Article.id, Article.title, Article.status, Article.audience, Article.view_count,
                   n_helpful.label("helpful"), (n_votes - n_helpful).label("unhelpful"),
                   _n(links.c.linked).label("linked"), _n(links.c.resolved).label("resolved"),
                   _n(links.c.reopened).label("reopened"),
                   recent_helpful.label("helpful_recent"), (recent_votes - recent_helpful).label("unhelpful_recent"),
                   recent_resolved.label("resolved_recent"), recent_reopened.label("reopened_recent"),
                   _n(deflections.c.confirmed).label("confirmed"), _n(deflections.c.pending).label("pending"),
                   _n(deflections.c.unverifiable).label("unverifiable"), _n(deflections.c.failed).label("failed"),
                   Article.reviewed_at, last_reviewed.label("last_reviewed"),
                   *(flag_cols[name].label(f"flag_{name}") for name in FLAGS),
                   severity.label("severity"))
            .outerjoin(votes, votes.c.aid == Article.id)
            .outerjoin(links, links.c.aid == Article.id)
            .outerjoin(deflections, deflections.c.aid == Article.id))
    return stmt, flag_cols, severity


def _health(row) -> ArticleHealth:
    return ArticleHealth(
        article_id=row.id, title=row.title, status=row.status, audience=row.audience, views=row.view_count or 0,
        helpful=int(row.helpful), unhelpful=int(row.unhelpful), linked_tickets=int(row.linked),
        resolved_tickets=int(row.resolved), reopened_tickets=int(row.reopened), deflections=int(row.confirmed),
        deflections_pending=int(row.pending), deflections_unverifiable=int(row.unverifiable),
        deflections_failed=int(row.failed), helpful_since_review=int(row.helpful_recent),
        unhelpful_since_review=int(row.unhelpful_recent), resolved_since_review=int(row.resolved_recent),
        reopened_since_review=int(row.reopened_recent), reviewed_at=row.reviewed_at,
        last_reviewed=_aware(row.last_reviewed),
        flags=tuple(name for name in FLAGS if row._mapping[f"flag_{name}"]))


def _aware(value) -> datetime:
    """COALESCE loses the column type on some drivers (SQLite returns a string)."""
    from kb.db import UTCDateTime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, None)


def health_of(session: Session, article_ids=None, *, now: datetime,
              limits: Thresholds | None = None) -> dict[int, ArticleHealth]:
    """Figures and flags for the given articles (all when ``article_ids`` is None), in one query."""
    stmt, _flags, _severity = _health_select(now, limits or Thresholds())
    if article_ids is not None:
        ids = list(article_ids)
        if not ids:
            return {}
        stmt = stmt.where(Article.id.in_(ids))
    return {row.id: _health(row) for row in session.execute(stmt)}


def needs_attention(session: Session, actor, page: int = 1, per_page: int = 25, *, now: datetime,
                    stale_days: int = STALE_DAYS, flag: str | None = None,
                    limits: Thresholds | None = None) -> AttentionPage:
    """Published articles with at least one flag (or the given one), most severe first;
    within a severity the most-read first, since more people meet them. Two queries
    (count and page) whatever the number of articles."""
    permissions.require(permissions.can_view_article_health(actor), "Only team leads and admins see article health.")
    if flag is not None and flag not in FLAGS:
        raise ValidationError(f"Unknown flag {flag!r}; one of {', '.join(FLAGS)}.", "flag")
    limits = limits or Thresholds(stale_days=stale_days)
    page, per_page = max(int(page), 1), min(max(int(per_page), 1), 200)
    stmt, flag_cols, severity = _health_select(now, limits)
    stmt = stmt.where(severity > 0)
    if flag is not None:
        stmt = stmt.where(flag_cols[flag] == 1)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(severity.desc(), Article.view_count.desc(), Article.id)
                           .limit(per_page).offset((page - 1) * per_page))
    return AttentionPage(items=[_health(r) for r in rows], page=page, per_page=per_page, total=total, flag=flag)


def mark_reviewed(session: Session, actor, article: Article, *, now: datetime | None = None) -> Article:
    """A lead confirms a published article is still right: the stale clock starts again.

    Only ``reviewed_at`` changes: no revision is recorded, because the content did not
    change (a revision would tell learners and the index that something did)."""
    from kb.db import utcnow

    permissions.require(permissions.can_review_article(actor, article), "Only team leads and admins review articles.")
    if article.status != "published":
        raise InvalidTransition("Only published articles are reviewed for staleness; "
                                "drafts and articles in review go through the review queue.")
    # A statement, like kb.articles.record_view: the row's onupdate would otherwise move
    # updated_at, and the article page would claim the content changed today.
    session.execute(update(Article).where(Article.id == article.id)
                    .values(reviewed_at=now or utcnow(), updated_at=Article.updated_at)
                    .execution_options(synchronize_session=False))
    session.refresh(article, ["reviewed_at", "updated_at"])
    return article

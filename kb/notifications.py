"""In-app notifications: the scheduler and the lifecycle tell one person something.

A notification belongs to its recipient only: every read and change here is scoped by
the actor's id, so nobody can list, count or mark someone else's (asking for another
person's id is the same as asking for one that does not exist).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.pagination import Paged
from kb.ticket_records import Notification

KIND_MAX = 30
TEXT_MAX = 2000
MAX_PER_PAGE = 100
ALL = "all"


@dataclass(frozen=True)
class NotificationPage(Paged):
    items: list[Notification]
    page: int
    per_page: int
    total: int


def notify(session: Session, user_id: int, kind: str, text: str, ticket=None,
           now: datetime | None = None) -> Notification:
    """Queue one message for ``user_id`` (a system action: no permission check); flushes."""
    kind = (kind or "").strip()
    text = (text or "").strip()
    if not kind or len(kind) > KIND_MAX:
        raise ValidationError(f"A notification kind has 1 to {KIND_MAX} characters.", "kind")
    if not text:
        raise ValidationError("A notification needs a text.", "text")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ValidationError("A notification needs a recipient.", "user_id")
    note = Notification(user_id=user_id, ticket_id=getattr(ticket, "id", None), kind=kind,
                        text=text[:TEXT_MAX], created_at=now or utcnow())
    session.add(note)
    session.flush()
    return note


def _uid(user) -> int | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.id


def unread_count(session: Session, user) -> int:
    """Unread notifications of ``user`` (0 for anonymous visitors); uses ix_notification_user_read."""
    uid = _uid(user)
    if uid is None:
        return 0
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == uid, Notification.read_at.is_(None))) or 0


def list_notifications(session: Session, user, page: int = 1, per_page: int = 25, *,
                       unread_only: bool = False) -> NotificationPage:
    """The user's notifications, newest first; a page past the end is empty."""
    uid = _uid(user)
    try:
        page = max(int(page or 1), 1)
        per_page = min(max(int(per_page or 25), 1), MAX_PER_PAGE)
    except (TypeError, ValueError):
        raise ValidationError("The page must be a number.", "page") from None
    if uid is None:
        return NotificationPage([], page, per_page, 0)
    conds = [Notification.user_id == uid]
    if unread_only:
        conds.append(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*conds)) or 0
    items = list(session.scalars(select(Notification).where(*conds)
                                 .order_by(Notification.created_at.desc(), Notification.id.desc())
                                 .offset((page - 1) * per_page).limit(per_page)))
    return NotificationPage(items, page, per_page, total)


def mark_read(session: Session, user, ids, now: datetime | None = None) -> int:
    """Mark ``ids`` (a list of notification ids, or ``"all"``) read for ``user``; returns how
    many changed. Ids that are not the user's raise NotFound, and nothing is changed."""
    uid = _uid(user)
    if uid is None:
        raise NotFound("We could not find that notification.")
    now = now or utcnow()
    conds = [Notification.user_id == uid, Notification.read_at.is_(None)]
    if ids != ALL:
        try:
            wanted = {int(i) for i in ids}
        except (TypeError, ValueError):
            raise ValidationError("Notification ids are numbers.", "ids") from None
        if not wanted:
            return 0
        mine = set(session.scalars(select(Notification.id).where(Notification.user_id == uid,
                                                                 Notification.id.in_(wanted))))
        if mine != wanted:
            raise NotFound("We could not find that notification.")
        conds.append(Notification.id.in_(wanted))
    result = session.execute(update(Notification).where(*conds).values(read_at=now)
                             .execution_options(synchronize_session="fetch"))
    session.flush()
    return result.rowcount or 0

"""Notifications: the scheduler and the lifecycle tell one person something, in the app
and by email, as that person chose (:data:`KINDS`, opt-outs in ``notification_preference``).

A notification belongs to its recipient only: every read and change here is scoped by
the actor's id, so nobody can list, count or mark someone else's (asking for another
person's id is the same as asking for one that does not exist).

What a requester is told is public by construction: callers pass the public text (never
an internal note), and the email carries the same text (see the marker test in
tests/test_internal_notes_never_leak.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kb.db import utcnow
from kb.errors import NotFound, ValidationError
from kb.pagination import Paged
from kb.channel_models import NOTIFICATION_CHANNELS, NotificationPreference
from kb.ticket_records import Notification
from kb.users import User

KIND_MAX = 30
TEXT_MAX = 2000
MAX_PER_PAGE = 100
ALL = "all"

# Every kind a person can be told about, in the order the preferences page lists them,
# with who receives it (for the page's explanation). Kinds not listed are always sent.
KINDS = {
    "received": "requester",        # ticket received, with its reference and suggested articles
    "acknowledged": "requester",    # accepted, with planned actions and expected completion
    "question": "requester",        # waiting for you
    "reply": "everyone",            # a public reply on a ticket you filed, follow or work
    "resolved": "requester",        # resolved, with confirm / reopen links
    "survey": "requester",          # satisfaction survey invitation
    "update": "requester",          # a ticket you follow was merged, grouped or updated
    "assigned": "staff",            # a ticket was assigned to you
    "reopened": "staff",
    "cancelled": "staff",
    "collaborator": "staff",        # someone asked for your help
    "sla_reminder": "staff",
    "sla_escalation": "staff",
    "auto_closed": "requester",
    "learning": "everyone",         # a learning path assigned to you, or an article you completed changed
    "review": "staff",              # the weekly / monthly service review (leads)
}


@dataclass(frozen=True)
class NotificationPage(Paged):
    items: list[Notification]
    page: int
    per_page: int
    total: int


def opted_out(session: Session, user_id: int) -> set[tuple[str, str]]:
    """The (kind, channel) pairs this user does not want."""
    return {(p.kind, p.channel) for p in session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id))}


def set_preferences(session: Session, user, wanted: set[tuple[str, str]]) -> None:
    """Store ``user``'s choice: ``wanted`` holds the (kind, channel) pairs to receive; every
    other known pair becomes an opt-out. Unknown pairs are refused."""
    uid = _uid(user)
    if uid is None:
        raise NotFound("Log in to choose your notifications.")
    known = {(k, c) for k in KINDS for c in NOTIFICATION_CHANNELS}
    if not set(wanted) <= known:
        raise ValidationError("Unknown notification choice.", "preferences")
    current = opted_out(session, uid)
    target = known - set(wanted)
    for kind, channel in current - target:
        session.delete(session.get(NotificationPreference, (uid, kind, channel)))
    for kind, channel in target - current:
        session.add(NotificationPreference(user_id=uid, kind=kind, channel=channel))
    session.flush()


def notify(session: Session, user_id: int, kind: str, text: str, ticket=None,
           now: datetime | None = None, *, body: str | None = None, links=None, html: str | None = None,
           attachments=None) -> Notification | None:
    """Tell ``user_id`` something (a system action: no permission check); flushes.

    In the app as ``text``; by email (the outbox, :mod:`kb.mail_out`) as ``text``, then
    ``body`` (e.g. the public reply itself) and ``links`` (``[(label, path)]``), with ``html``
    and ``attachments`` if given (:func:`kb.mail_out.enqueue`), unless the
    person opted out of that kind on that channel. Returns the in-app notification, or
    None when they do not want it in the app."""
    kind = (kind or "").strip()
    text = (text or "").strip()
    if not kind or len(kind) > KIND_MAX:
        raise ValidationError(f"A notification kind has 1 to {KIND_MAX} characters.", "kind")
    if not text:
        raise ValidationError("A notification needs a text.", "text")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ValidationError("A notification needs a recipient.", "user_id")
    from kb import mail_out

    now = now or utcnow()
    unwanted = opted_out(session, user_id)
    note = None
    if (kind, "in_app") not in unwanted:
        note = Notification(user_id=user_id, ticket_id=getattr(ticket, "id", None), kind=kind,
                            text=text[:TEXT_MAX], created_at=now)
        session.add(note)
    user = session.get(User, user_id)
    if (kind, "email") not in unwanted and user is not None and user.is_active and user.email:
        mail_out.enqueue(session, user=user, kind=kind, text=text, body=body, ticket=ticket, links=links, html=html,
                         attachments=attachments, now=now)
    session.flush()
    return note


def ticket_path(ticket) -> str:
    return f"/tickets/{ticket.id}"


def notify_requesters(session: Session, ticket, kind: str, text: str, *, now: datetime | None = None,
                      body: str | None = None, links=None, exclude: int | None = None) -> None:
    """Tell the requester (as ``kind``, with ``links``) and everyone following the ticket
    (as ``update``, with a link to it); ``exclude`` is the person who caused it."""
    view = [("Open the ticket", ticket_path(ticket))]
    if ticket.requester_id != exclude:
        notify(session, ticket.requester_id, kind, text, ticket=ticket, now=now, body=body,
               links=[*(links or []), *view])
    for uid in sorted(ticket.follower_ids - {ticket.requester_id, exclude}):
        notify(session, uid, "update", text, ticket=ticket, now=now, body=body, links=view)


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

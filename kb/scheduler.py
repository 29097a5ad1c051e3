"""The SLA scheduler: reminders, escalation on breach and auto-close, run every minute.

Safe to run as often as you like and from two places at once on SQLite (every
transaction there is ``BEGIN IMMEDIATE``, so passes serialise; elsewhere the batch is
read ``FOR UPDATE SKIP LOCKED``). Nothing is sent twice: the per-clock "sent" flags are
the ``reminder`` and ``escalated`` events themselves (data ``{"clock", "priority"}``), read
in the same query as the clock events, so a repeated pass finds them and does nothing.
A change of priority gives the new targets their own reminder and escalation.

Which tickets are looked at, all through indexed columns (docs/sla.md has the detail):

- breach: open tickets with ``next_due_at <= now`` (a running clock reached its due
  time; refresh keeps a due time the scheduler has not handled yet), plus open tickets
  ``breached_at IS NOT NULL AND escalated_at IS NULL`` (the breach was seen by an event);
- reminder: per priority, open tickets with ``now < next_due_at <= cutoff``, where
  ``cutoff = now + (1 - reminder_share) x the larger target`` in that policy's business
  time. A running clock is past its reminder share exactly when its due time is within
  ``(1 - share) x target`` business time of now, so the window holds every ticket that
  needs a reminder; the exact ``reminder_at`` is computed for these candidates only;
- auto-close: ``status = 'resolved'`` (ix_ticket_status_due) resolved long enough ago.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kb.db import utcnow
from kb.notifications import notify
from kb.sla.calendar import add_business_time
from kb.sla.clock import auto_close_at, sla_status
from kb.sla.models import DEFAULT_SET, AutoCloseRule, BusinessCalendarRow, calendar_from_row
from kb.teams import Team
from kb.ticket_events import ESCALATED, REMINDER, REPLY, record_event
from kb.ticket_flow import CLOSED, OPEN_STATUSES, RESOLVED, apply_transition
from kb.ticket_sla import (CLOCK_KINDS, apply_status, clock_events, keep_updated_at, load_events, payload,
                           policies)
from kb.tickets import Ticket
from kb.users import Role, User

BATCH = 200
CLOCK_LABELS = {"first_response": "first response", "resolution": "resolution"}
OPEN = sorted(OPEN_STATUSES)


def run_scheduler(session: Session, now: datetime | None = None, *, batch_size: int = BATCH,
                  commit: Callable[[], None] | None = None) -> dict[str, int]:
    """One pass. Returns counts: ``checked`` tickets, ``reminders``, ``escalations``,
    ``auto_closed``, ``notifications``. Flushes; ``commit`` (e.g. ``db.session.commit``)
    is called after every batch so a long first pass keeps its work."""
    now = now or utcnow()
    counts = {"checked": 0, "reminders": 0, "escalations": 0, "auto_closed": 0, "notifications": 0}
    pols = policies(session)
    if pols:
        ids = sorted(_breach_candidates(session, now) | _reminder_candidates(session, now, pols))
        for chunk in _chunks(ids, batch_size):
            _clock_batch(session, chunk, now, counts)
            _end_batch(session, commit)
    rule = session.scalar(select(AutoCloseRule).where(AutoCloseRule.name == DEFAULT_SET,
                                                      AutoCloseRule.active.is_(True))
                          .options(selectinload(AutoCloseRule.calendar).selectinload(BusinessCalendarRow.holidays)))
    if rule is not None:
        for chunk in _chunks(_resolved_candidates(session, now, rule.after_days), batch_size):
            _auto_close_batch(session, chunk, now, rule, counts)
            _end_batch(session, commit)
    return counts


def _chunks(ids: list[int], size: int):
    size = max(int(size), 1)
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _end_batch(session: Session, commit) -> None:
    session.flush()
    if commit is not None:
        commit()


# -- candidates ------------------------------------------------------------------------------
def _breach_candidates(session: Session, now: datetime) -> set[int]:
    due = select(Ticket.id).where(Ticket.status.in_(OPEN), Ticket.next_due_at <= now)
    seen = select(Ticket.id).where(Ticket.status.in_(OPEN), Ticket.breached_at.is_not(None),
                                   Ticket.escalated_at.is_(None))
    return set(session.scalars(due)) | set(session.scalars(seen))


def _reminder_candidates(session: Session, now: datetime, pols) -> set[int]:
    ids: set[int] = set()
    for priority, policy in pols.items():
        targets = [t for t in (policy.first_response, policy.resolution) if t is not None]
        if not targets:
            continue
        cutoff = add_business_time(now, max(targets) * (1 - policy.reminder_share), policy.calendar)
        ids.update(session.scalars(select(Ticket.id).where(
            Ticket.status.in_(OPEN), Ticket.priority == priority,
            Ticket.next_due_at > now, Ticket.next_due_at <= cutoff)))
    return ids


def _resolved_candidates(session: Session, now: datetime, after_days: int) -> list[int]:
    # auto_close_at(r) is the end of a working date at least after_days dates after r's,
    # so it is later than r + (after_days - 1) days (less a DST hour): a safe superset.
    bound = now - timedelta(days=after_days - 1) + timedelta(hours=2)
    return list(session.scalars(select(Ticket.id).where(Ticket.status == RESOLVED, Ticket.resolved_at <= bound)
                                .order_by(Ticket.id)))


# -- reminders and escalation ----------------------------------------------------------------------
def _clock_batch(session: Session, ids: list[int], now: datetime, counts: dict) -> None:
    pols = policies(session)
    tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ids))
                              .options(selectinload(Ticket.team), selectinload(Ticket.assignee))
                              .with_for_update(skip_locked=True)).all()
    rows = load_events(session, ids, CLOCK_KINDS + (REMINDER, ESCALATED))
    admins = _Admins(session)
    for ticket in tickets:
        policy = pols.get(ticket.priority)
        if policy is None or ticket.status not in OPEN_STATUSES:
            continue
        counts["checked"] += 1
        history = rows.get(ticket.id, [])
        sent = {(r.kind, d.get("clock"), d.get("priority")) for r in history if r.kind in (REMINDER, ESCALATED)
                for d in (payload(r),)}
        events = clock_events(history, ticket.created_at)
        st = sla_status(events, policy, now=now)
        acted = False
        for clock in st.clocks:
            if clock.breached and (ESCALATED, clock.name, ticket.priority) not in sent:
                counts["notifications"] += _escalate(session, ticket, clock, admins, now)
                counts["escalations"] += 1
                acted = True
            elif clock.reminder_due and (REMINDER, clock.name, ticket.priority) not in sent:
                counts["notifications"] += _remind(session, ticket, clock, admins, now)
                counts["reminders"] += 1
                acted = True
        apply_status(ticket, st, events, now, pending_breach=False)
        if acted:
            ticket.updated_at = now
        else:
            keep_updated_at(session, ticket)


class _Admins:
    """Active admins, looked up once per batch and only if some ticket needs them."""

    def __init__(self, session: Session):
        self.session = session
        self._ids: list[int] | None = None

    def ids(self) -> list[int]:
        if self._ids is None:
            self._ids = list(self.session.scalars(select(User.id).where(User.role == Role.ADMIN.value,
                                                                       User.active.is_(True)).order_by(User.id)))
        return self._ids


def _active(user: User | None) -> int | None:
    return user.id if user is not None and user.active else None


def _lead(session: Session, ticket) -> int | None:
    team: Team | None = ticket.team
    if team is None or team.lead_id is None:
        return None
    return _active(session.get(User, team.lead_id))


def _reminder_recipients(session: Session, ticket, admins: _Admins) -> list[int]:
    """The assignee; the team lead when nobody is assigned; the admins when there is no team lead."""
    for who in (_active(ticket.assignee), _lead(session, ticket)):
        if who is not None:
            return [who]
    return admins.ids()


def _escalation_recipients(session: Session, ticket, admins: _Admins) -> list[int]:
    """The team lead (the admins when the team has none) and the assignee."""
    lead = _lead(session, ticket)
    people = [lead] if lead is not None else list(admins.ids())
    assignee = _active(ticket.assignee)
    if assignee is not None and assignee not in people:
        people.append(assignee)
    return people


def _fmt(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else "-"


def _remind(session: Session, ticket, clock, admins: _Admins, now: datetime) -> int:
    people = _reminder_recipients(session, ticket, admins)
    label = CLOCK_LABELS.get(clock.name, clock.name)
    text = (f"Reminder: {ticket.reference} “{ticket.title}” has used {clock.share:.0%} of its {label} target; "
            f"due {_fmt(clock.due_at)}.")
    for uid in people:
        notify(session, uid, "sla_reminder", text, ticket=ticket, now=now)
    record_event(session, None, ticket, REMINDER, now=now, data={
        "clock": clock.name, "priority": ticket.priority, "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "notified": people})
    ticket.reminder_sent_at = now
    return len(people)


def _escalate(session: Session, ticket, clock, admins: _Admins, now: datetime) -> int:
    people = _escalation_recipients(session, ticket, admins)
    label = CLOCK_LABELS.get(clock.name, clock.name)
    text = (f"Escalation: {ticket.reference} “{ticket.title}” missed its {label} target "
            f"(due {_fmt(clock.breached_at)}, priority {ticket.priority}).")
    for uid in people:
        notify(session, uid, "sla_escalation", text, ticket=ticket, now=now)
    record_event(session, None, ticket, ESCALATED, now=now, data={
        "clock": clock.name, "priority": ticket.priority, "breached_at": clock.breached_at.isoformat(),
        "notified": people})
    ticket.escalated_at = ticket.escalated_at or now
    return len(people)


# -- auto-close -------------------------------------------------------------------------------
def _auto_close_batch(session: Session, ids: list[int], now: datetime, rule: AutoCloseRule, counts: dict) -> None:
    calendar = calendar_from_row(rule.calendar) if rule.calendar is not None else None
    tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ids)).with_for_update(skip_locked=True)).all()
    replies = load_events(session, ids, (REPLY,))
    unit = "business days" if calendar is not None else "days"
    for ticket in tickets:
        if ticket.status != RESOLVED or ticket.resolved_at is None:
            continue
        counts["checked"] += 1
        # A requester who answers the resolution (without reopening) starts the wait again.
        start = max([ticket.resolved_at] + [r.created_at for r in replies.get(ticket.id, [])
                                            if r.created_at >= ticket.resolved_at])
        if auto_close_at(start, rule.after_days, calendar) > now:
            continue
        reason = f"No answer from the requester within {rule.after_days} {unit} of the resolution."
        apply_transition(session, None, ticket, CLOSED, data={"auto": True, "reason": reason}, now=now)
        notify(session, ticket.requester_id, "auto_closed",
               f"{ticket.reference} “{ticket.title}” was closed automatically: we heard nothing from you within "
               f"{rule.after_days} {unit} of its resolution. If the problem comes back, file a new ticket.",
               ticket=ticket, now=now)
        counts["auto_closed"] += 1
        counts["notifications"] += 1

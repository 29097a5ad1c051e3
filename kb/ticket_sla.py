"""The SLA clocks of one ticket, kept on the ticket row.

The clocks themselves are pure (:mod:`kb.sla.clock`); this module feeds them a ticket's
events and writes the answer back to the denormalised columns the queues and the
scheduler filter on (``response_due_at``, ``resolution_due_at``, ``next_due_at``,
``breached_at``, ``first_responded_at``). :func:`refresh` runs inside
:func:`kb.ticket_events.record_event` after every event that can move a clock, so it
costs one query for the ticket's events (policies are cached per session) and never
records events itself.

Between events nothing is written: a running clock's due time is exact until the next
event, so the scheduler finds tickets whose due time has come by ``next_due_at <= now``.
One subtlety keeps that search complete. When an event arrives *after* a due time passed
but *before* the scheduler saw it, a plain recomputation would drop the breached clock
from ``next_due_at`` and the scheduler would never escalate it. So :func:`refresh` keeps
a ``next_due_at`` that is the breach instant of one of the clocks (the scheduler has not
handled it yet); the scheduler clears it with ``pending_breach=False`` once it has.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified

from kb.db import utcnow
from kb.sla.clock import REPLY, RUNNING, STOPPED, ClockPolicy, Event, SlaStatus, sla_status
from kb.sla.models import DEFAULT_SET, BusinessCalendarRow, Holiday, SlaPolicy, clock_policy_from_row
from kb.ticket_events import AGENT_PUBLIC_REPLY, CREATED, STATUS, TicketEvent
from kb.ticket_flow import MERGED, NEW, OPEN_STATUSES

CLOCK_KINDS = (CREATED, STATUS, AGENT_PUBLIC_REPLY)
_CACHE_KEY = "kb.ticket_sla.policies"
_CONFIG_CLASSES = (SlaPolicy, BusinessCalendarRow, Holiday)


# -- policies --------------------------------------------------------------------------------
def policies(session: Session) -> dict[str, ClockPolicy]:
    """Clock policies of the default set by priority; empty when the SLA is not configured.

    Cached in ``session.info``: a request or a scheduler pass builds each calendar once
    (and keeps its per-day window cache warm). The cache is dropped on commit, rollback
    and any flush that touches the SLA configuration tables."""
    cached = session.info.get(_CACHE_KEY)
    if cached is None:
        rows = session.scalars(select(SlaPolicy).where(SlaPolicy.policy_set == DEFAULT_SET)
                               .options(selectinload(SlaPolicy.calendar).selectinload(BusinessCalendarRow.holidays)))
        # "merged" is terminal like "closed": the duplicate's clocks stop with it.
        cached = {row.priority: _with_merged(clock_policy_from_row(row)) for row in rows}
        session.info[_CACHE_KEY] = cached
    return cached


def _with_merged(policy: ClockPolicy) -> ClockPolicy:
    return replace(policy, stop_statuses=policy.stop_statuses | {MERGED})


def policy_for(session: Session, ticket) -> ClockPolicy | None:
    """The policy for the ticket's priority, or None (SLA not configured for it)."""
    return policies(session).get(ticket.priority)


def clear_policy_cache(session: Session) -> None:
    session.info.pop(_CACHE_KEY, None)


@sa_event.listens_for(Session, "after_flush")
def _config_changed(session, _flush_context):
    if _CACHE_KEY in session.info and any(isinstance(obj, _CONFIG_CLASSES)
                                          for objs in (session.new, session.dirty, session.deleted)
                                          for obj in objs):
        clear_policy_cache(session)


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_rollback")
def _end_of_transaction(session):
    clear_policy_cache(session)


# -- events ----------------------------------------------------------------------------------
def load_events(session: Session, ticket_ids: Iterable[int], kinds: Iterable[str] = CLOCK_KINDS) -> dict[int, list]:
    """Rows ``(ticket_id, created_at, kind, to_status, data)`` of these tickets, in order,
    grouped by ticket: one query for a whole batch (the scheduler and the report use it)."""
    ids = list(ticket_ids)
    out: dict[int, list] = defaultdict(list)
    if not ids:
        return out
    stmt = (select(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.kind, TicketEvent.to_status,
                   TicketEvent.data)
            .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind.in_(list(kinds)))
            .order_by(TicketEvent.ticket_id, TicketEvent.created_at, TicketEvent.id))
    for row in session.execute(stmt):
        out[row.ticket_id].append(row)
    return out


def clock_events(rows: Iterable, created_at: datetime | None = None) -> list[Event]:
    """Event rows as the clock reads them: CREATED -> "new", STATUS -> the new status,
    an agent's public reply -> REPLY; other kinds are ignored. A ticket from before the
    ``created`` event existed starts its clocks at ``created_at``."""
    out: list[Event] = []
    has_created = False
    for row in rows:
        if row.kind == CREATED:
            has_created = True
            out.append(Event(row.created_at, NEW))
        elif row.kind == STATUS and row.to_status:
            out.append(Event(row.created_at, row.to_status))
        elif row.kind == AGENT_PUBLIC_REPLY:
            out.append(Event(row.created_at, REPLY))
    if not has_created and created_at is not None:
        out.insert(0, Event(created_at, NEW))
    return out


def ticket_events_for_clock(session: Session, ticket) -> list[Event]:
    """The ticket's history as ``(at, kind)`` pairs for :func:`kb.sla.clock.sla_status`."""
    return clock_events(load_events(session, [ticket.id]).get(ticket.id, []), ticket.created_at)


def payload(row) -> dict:
    try:
        return json.loads(row.data or "{}")
    except (TypeError, ValueError):
        return {}


# -- status and the denormalised columns -------------------------------------------------------
def status(session: Session, ticket, now: datetime | None = None) -> SlaStatus | None:
    """Both clocks of the ticket as of ``now``; None when its priority has no policy."""
    policy = policy_for(session, ticket)
    if policy is None:
        return None
    return sla_status(ticket_events_for_clock(session, ticket), policy, now=now or utcnow())


def first_reply_at(events: Iterable[Event], now: datetime) -> datetime | None:
    return min((e.at for e in events if e.kind == REPLY and e.at <= now), default=None)


def apply_status(ticket, st: SlaStatus, events: list[Event], now: datetime, *, pending_breach: bool = True) -> None:
    """Write ``st`` to the ticket's SLA columns (see the module docstring for ``pending_breach``)."""
    fr, res = st.first_response, st.resolution
    ticket.response_due_at = fr.due_at if fr is not None and fr.state == RUNNING else None
    ticket.resolution_due_at = res.due_at if res is not None and res.state == RUNNING else None
    breaches = [c.breached_at for c in st.clocks if c.breached_at is not None]
    next_due = st.next_due_at
    if (pending_breach and ticket.status in OPEN_STATUSES and ticket.next_due_at is not None
            and ticket.next_due_at in breaches):
        next_due = ticket.next_due_at
    ticket.next_due_at = next_due
    ticket.breached_at = min(breaches, default=None)
    for column, value in outcomes(st).items():
        setattr(ticket, column, value)
    replied = first_reply_at(events, now)
    if replied is not None:
        ticket.first_responded_at = replied


def outcomes(st: SlaStatus) -> dict:
    """The ticket columns of each clock's outcome: its breach instant, and its business minutes
    once it stopped (None while it runs or is paused: a reopened ticket's resolution is
    undecided again)."""
    out = {}
    for clock, name in ((st.first_response, "response"), (st.resolution, "resolution")):
        stopped = clock is not None and clock.state == STOPPED
        out[f"{name}_breached_at"] = clock.breached_at if clock is not None else None
        out[f"{name}_minutes"] = round(clock.elapsed.total_seconds() / 60, 2) if stopped else None
    return out


def backfill_outcomes(session: Session, *, batch: int = 500) -> int:
    """Run every ticket's clocks once and store their outcomes (the migration that added the
    columns calls this; safe to repeat). Returns how many tickets were written."""
    pols = policies(session)
    if not pols:
        return 0
    from kb.tickets import Ticket

    table, done, last_id, now = Ticket.__table__, 0, 0, utcnow()
    while True:
        rows = session.execute(select(Ticket.id, Ticket.priority, Ticket.created_at)
                               .where(Ticket.id > last_id).order_by(Ticket.id).limit(batch)).all()
        if not rows:
            return done
        last_id = rows[-1].id
        history = load_events(session, [r.id for r in rows])
        values = [{"tid": r.id, **outcomes(sla_status(clock_events(history.get(r.id, []), r.created_at),
                                                      pols[r.priority], now=now))}
                  for r in rows if r.priority in pols]
        if values:
            session.execute(table.update().where(table.c.id == bindparam("tid")), values)
            done += len(values)


def refresh(session: Session, ticket, now: datetime | None = None) -> SlaStatus | None:
    """Recompute ``ticket``'s denormalised due times from its events; returns the status
    (None, and nothing changed, when the SLA is not configured for its priority)."""
    policy = policy_for(session, ticket)
    if policy is None:
        return None
    now = now or utcnow()
    events = ticket_events_for_clock(session, ticket)
    st = sla_status(events, policy, now=now)
    apply_status(ticket, st, events, now)
    keep_updated_at(session, ticket)  # the service recording the event decides updated_at
    return st


def keep_updated_at(session: Session, ticket) -> None:
    """Bookkeeping is not an update someone made: stop ``onupdate`` from bumping ``updated_at``
    (a value the caller sets explicitly, before or after, still wins)."""
    state = sa_inspect(ticket)
    if state.persistent and state.modified and "updated_at" in state.dict:
        flag_modified(ticket, "updated_at")

"""The period's figures for the insights dashboard: headline indicators (resolution, reopen and
first-contact resolution rates, satisfaction) and triage quality (how often the suggested
category, priority and team were kept, changed by the requester, or corrected by staff).

Both come from **one** statement over the tickets filed in the period: the ticket's event
counters (reopened, waited for the requester, public staff replies, transfers; kept by
:func:`kb.ticket_events.record_event`) and the (small) triage-correction table; then one for
the surveys. Measured at 100,000 tickets and 1,000,000 events in docs/benchmarks.md: reading
the events instead (correlated EXISTS, or one grouped pass) took 0.5–1.3 s for a year.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.db import count_if
from kb.insights import Chart, Filters, scope
from kb.ticket_records import SurveyResponse, TriageCorrection
from kb.tickets import Ticket

TRIAGE_PARTS = ("category", "priority", "team")
TRIAGE_SERIES = ("kept", "changed by the requester", "corrected by staff")
STAFF_ROLES = ("agent", "lead", "admin")


@dataclass(frozen=True)
class Indicators:
    """The period's headline numbers for the tickets filed in it (rates are None without data)."""

    filed: int
    resolved: int          # resolved at least once (resolved or closed now, or reopened later)
    reopened: int          # of those, reopened at least once
    first_contact: int     # resolved, never reopened, never waited for the requester, <= 1 public staff reply
    surveys: int
    speed: float | None    # mean ratings, 1-5
    effectiveness: float | None
    communication: float | None

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def resolution_rate(self) -> float | None:
        return self._share(self.resolved, self.filed)

    @property
    def reopen_rate(self) -> float | None:
        return self._share(self.reopened, self.resolved)

    @property
    def first_contact_rate(self) -> float | None:
        return self._share(self.first_contact, self.resolved)

    def rows(self) -> list[list]:
        def fmt(v):
            return "" if v is None else round(v, 4)

        return [["indicator", "value", "of"], ["tickets filed", self.filed, ""],
                ["resolution rate", fmt(self.resolution_rate), self.filed],
                ["reopen rate", fmt(self.reopen_rate), self.resolved],
                ["first-contact resolution", fmt(self.first_contact_rate), self.resolved],
                ["satisfaction: response speed", fmt(self.speed), self.surveys],
                ["satisfaction: effectiveness", fmt(self.effectiveness), self.surveys],
                ["satisfaction: communication", fmt(self.communication), self.surveys]]


def _corrected(field: str, roles):
    return select(TriageCorrection.id).where(TriageCorrection.ticket_id == Ticket.id, TriageCorrection.field == field,
                                             TriageCorrection.actor_role.in_(list(roles))).exists()


def period_figures(session: Session, actor, f: Filters) -> tuple[Indicators, Chart]:
    """The indicators and the triage-quality chart for the tickets filed in the period."""
    permissions.require(permissions.can_view_reports(actor), "Insights are for team leads and admins.")
    reopened = Ticket.reopen_count > 0
    resolved = Ticket.resolved_at.is_not(None) | Ticket.closed_at.is_not(None) | reopened
    first = resolved & ~reopened & (Ticket.wait_count == 0) & (Ticket.public_reply_count <= 1)
    columns = [func.count(Ticket.id), count_if(resolved), count_if(resolved & reopened), count_if(first)]
    for field, suggested in (("category", Ticket.suggested_category_id), ("priority", Ticket.suggested_priority)):
        staff, requester = _corrected(field, STAFF_ROLES), _corrected(field, ("requester",))
        has = suggested.is_not(None)
        columns += [count_if(has & ~staff & ~requester), count_if(has & requester & ~staff), count_if(has & staff)]
    transferred = Ticket.transfer_count > 0
    columns += [count_if(Ticket.team_id.is_not(None) & ~transferred), literal(0), count_if(transferred)]
    row = [int(v) for v in session.execute(select(*columns).where(*scope(f))).one()]
    surveys, speed, effect, comm = session.execute(
        select(func.count(SurveyResponse.id), func.avg(SurveyResponse.speed), func.avg(SurveyResponse.effectiveness),
               func.avg(SurveyResponse.communication))
        .join(Ticket, Ticket.id == SurveyResponse.ticket_id).where(*scope(f))).one()
    figures = Indicators(filed=row[0], resolved=row[1], reopened=row[2], first_contact=row[3], surveys=surveys,
                         speed=_float(speed), effectiveness=_float(effect), communication=_float(comm))
    triage = row[4:]
    chart = Chart(labels=list(TRIAGE_PARTS), series=[(name, triage[i::3]) for i, name in enumerate(TRIAGE_SERIES)])
    return figures, chart


def _float(value) -> float | None:
    return float(value) if value is not None else None

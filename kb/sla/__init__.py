"""SLA clocks: business calendars and the pure arithmetic the ticket lifecycle and the
scheduler share. Configuration tables live in :mod:`kb.sla.models` (imported separately,
so the arithmetic can be used without a database)."""
from kb.sla.calendar import (BusinessCalendar, add_business_time, business_time_between, end_of_business_day,
                             is_business_time, next_business_start)
from kb.sla.clock import (PAUSE_STATUSES, REPLY, STOP_STATUSES, ClockPolicy, ClockStatus, Event, SlaStatus,
                          auto_close_at, clock_status, sla_status)

__all__ = [
    "BusinessCalendar", "add_business_time", "business_time_between", "end_of_business_day",
    "is_business_time", "next_business_start",
    "PAUSE_STATUSES", "REPLY", "STOP_STATUSES", "ClockPolicy", "ClockStatus", "Event", "SlaStatus",
    "auto_close_at", "clock_status", "sla_status",
]

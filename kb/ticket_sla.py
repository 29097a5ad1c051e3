"""The SLA clocks of one ticket, kept on the ticket row (being written by the SLA/scheduler work)."""
from __future__ import annotations


def refresh(session, ticket, now=None) -> None:
    """Recompute ``ticket``'s denormalised due times from its events."""

"""Readable, translated words for ticket statuses, priorities, channels and events.

The timeline shows events as sentences; an event's data never holds a message body, so
this text is safe for whoever may see the event (see kb.ticket_events.visible_events).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from kb import ticket_events as ev

STATUS_LABELS = {
    "new": _l("New"), "assigned": _l("Assigned"), "acknowledged": _l("Acknowledged"),
    "in_progress": _l("In progress"), "waiting_for_requester": _l("Waiting for you"),
    "resolved": _l("Resolved"), "closed": _l("Closed"), "reopened": _l("Reopened"),
    "cancelled": _l("Cancelled"), "merged": _l("Merged"),
}
STAFF_STATUS_LABELS = dict(STATUS_LABELS, waiting_for_requester=_l("Waiting for requester"))
PRIORITY_LABELS = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}
PRIORITY_MEANINGS = {"high": _l("System crash or data loss: respond immediately."),
                     "medium": _l("Some users affected, or a function impaired."),
                     "low": _l("Routine questions and suggestions.")}
# Impact and urgency as staff configure them (the matrix, the manual) ...
IMPACT_NAMES = {"single": _l("Single user"), "several": _l("Several users or a function impaired"),
                "all": _l("Whole department, all users or data loss")}
URGENCY_NAMES = {"can_wait": _l("Can wait"), "impeded": _l("Work impeded"), "stopped": _l("Work stopped")}
# ... and as a requester answers them when filing.
CHANNEL_LABELS = {"portal": _l("Portal"), "phone": _l("Phone"), "email": _l("Email"), "chat": _l("Chat"),
                  "api": _l("API")}
IMPACT_LABELS = {"single": _l("Only me"), "several": _l("Several people or a function"),
                 "all": _l("A whole department, all users, or data loss")}
URGENCY_LABELS = {"can_wait": _l("It can wait"), "impeded": _l("My work is impeded"),
                  "stopped": _l("My work has stopped")}
TRANSITION_VERBS = {
    "assigned": _l("Assign"), "acknowledged": _l("Acknowledge"), "in_progress": _l("Start work"),
    "waiting_for_requester": _l("Wait for requester"), "resolved": _l("Resolve"), "closed": _l("Close"),
    "reopened": _l("Reopen"), "cancelled": _l("Withdraw"), "merged": _l("Merge"),
}


def status_label(status: str, staff: bool = False) -> str:
    return str((STAFF_STATUS_LABELS if staff else STATUS_LABELS).get(status, status))


def describe_event(event, names: dict[int, str], staff: bool = True) -> str:
    """One sentence for the timeline; ``names`` maps user ids to display names. Routing
    reasons (workload figures) are for staff only."""
    d = event.payload
    who = names.get(event.actor_id) if event.actor_id else None
    who = who or str(_l("The system"))
    k = event.kind
    if k == ev.CREATED:
        return str(_l("%(who)s filed the ticket (%(channel)s).", who=who,
                      channel=CHANNEL_LABELS.get(d.get("channel", ""), d.get("channel", ""))))
    if k == ev.STATUS:
        text = str(_l("%(who)s changed the status from %(a)s to %(b)s.", who=who,
                      a=status_label(event.from_status or "", staff), b=status_label(event.to_status or "", staff)))
        if d.get("auto"):
            text += " " + str(_l("(automatic)"))
        if d.get("reason"):
            text += " " + str(_l("Reason: %(reason)s", reason=d["reason"]))
        return text
    if k == ev.REPLY:
        return str(_l("%(who)s replied.", who=who))
    if k == ev.AGENT_PUBLIC_REPLY:
        return str(_l("%(who)s replied.", who=who))
    if k == ev.NOTE:
        return str(_l("%(who)s added an internal note.", who=who))
    if k == ev.ASSIGNED:
        target = d.get("assignee") or d.get("team") or "—"
        text = str(_l("%(who)s assigned the ticket to %(target)s.", who=who, target=target))
        return text + (" " + d["reason"] if staff and d.get("reason") else "")
    if k == ev.TRANSFERRED:
        return str(_l("%(who)s transferred the ticket to %(team)s. Reason: %(reason)s", who=who,
                      team=d.get("to_team") or d.get("team") or "—", reason=d.get("reason", "")))
    if k == ev.ACKNOWLEDGED:
        return str(_l("%(who)s accepted the ticket and planned the work.", who=who))
    if k == ev.PRIORITY:
        return str(_l("%(who)s set the priority to %(p)s.", who=who,
                      p=PRIORITY_LABELS.get(d.get("to", ""), d.get("to", "")) if d.get("to") else "—"))
    if k == ev.CATEGORY:
        return str(_l("%(who)s changed the category.", who=who))
    if k == ev.EDIT:
        return str(_l("%(who)s edited %(fields)s.", who=who, fields=", ".join(d.get("fields", []))))
    if k == ev.ATTACHMENT:
        return str(_l("%(who)s attached %(name)s.", who=who, name=d.get("filename", "")))
    if k == ev.PLAN:
        return str(_l("%(who)s wrote a diagnosis and resolution plan.", who=who))
    if k == ev.COLLABORATOR:
        if d.get("action") == "removed":
            return str(_l("%(who)s removed a collaborator.", who=who))
        return str(_l("%(who)s brought in %(name)s.", who=who, name=d.get("name", "")))
    if k == ev.ARTICLE_LINK:
        return str(_l("%(who)s linked the article “%(title)s”.", who=who, title=d.get("title", "")))
    if k == ev.RESOLUTION:
        return str(_l("%(who)s recorded the resolution.", who=who))
    if k == ev.SURVEY:
        return str(_l("%(who)s rated the service.", who=who))
    if k == ev.REMINDER:
        return str(_l("Reminder sent: a service-level target is close."))
    if k == ev.ESCALATED:
        return str(_l("Escalated to the team lead: a service-level target was missed."))
    if k == ev.VIEW_RESTRICTED:
        return str(_l("%(who)s viewed this restricted ticket.", who=who))
    if k == ev.EXPORT:
        return str(_l("%(who)s exported the ticket.", who=who))
    if k == ev.POSSIBLE_DUPLICATE:
        refs = ", ".join(c.get("reference", "") for c in d.get("candidates", []))
        return str(_l("Possibly the same problem as %(refs)s (reported recently): mark it a duplicate or add it "
                      "to the incident if so.", refs=refs))
    from portal.tickets.grouping import describe_grouping  # the grouping kinds (duplicates, merges, incidents)
    return describe_grouping(event, names, staff) or k

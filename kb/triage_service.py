"""Triage of real tickets: the admin-editable priority matrix, suggestions for a new
ticket, corrections by requesters and staff, and how often the suggestions were right.

The suggestion has two sources. The category comes from the nearest past tickets by
embedding (a similarity-weighted vote of the :data:`NEIGHBOURS` nearest categorised
tickets; a tie or a weak majority suggests nothing rather than a guess). The priority
comes from the explicit signals of :mod:`kb.triage.signals` through the matrix stored
here. One more rule overrides the vote: a complaint about service attitude is filed
under service / complaints-feedback and restricted to leads and admins, whatever the
neighbours say. Every difference between a suggestion and what someone chose is a
:class:`~kb.ticket_records.TriageCorrection`, the ground truth for :func:`accuracy_report`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kb import permissions
from kb.db import utcnow
from kb.errors import NotFound, PermissionDenied, ValidationError
from kb.service_config import matrix, seed_priority_matrix, set_matrix  # noqa: F401  (part of this API)
from kb.taxonomy import Category, get_category
from kb.ticket_events import CATEGORY, PRIORITY, record_event
from kb.ticket_flow import NEW
from kb.ticket_records import TriageCorrection
from kb.tickets import IMPACTS, PRIORITY_KEYS, URGENCIES, Ticket
from kb.triage.priority import DEFAULT_IMPACT, DEFAULT_URGENCY, priority_for, suggest_priority
from kb.triage.signals import Signal
from kb.validation import clean_text

NEIGHBOURS = 5          # past tickets that vote on the category
MIN_SIMILARITY = 0.2    # a neighbour less similar than this does not vote
MIN_CONFIDENCE = 0.5    # the winning category's share of the vote needed to suggest it
COMPLAINTS = ("service", "complaints-feedback")  # (top slug, subcategory slug)
REASON_MAX = 2000

# Service-attitude complaints: Latin phrases on word boundaries, Chinese as substrings.
_COMPLAINT_LATIN = re.compile(r"(?<!\w)(rude(ly|ness)?|unprofessional|impolite|disrespectful|arrogant|attitude|"
                              r"(complain(t|ts|ed)?|complaining) about (the |an |your |my )?"
                              r"(agent|technician|engineer|staff|support|service desk|helpdesk|help desk)|"
                              r"unhöflich|unfreundlich|respektlos|unprofessionell|"
                              r"beschwerde über (den |die |das |ihren |ihre )?"
                              r"(mitarbeiter\w*|techniker\w*|support))(?!\w)")
_COMPLAINT_ZH = re.compile(r"态度|投诉|不礼貌|没礼貌|不专业|粗鲁|不耐烦")


# -- suggestions --------------------------------------------------------------------------

@dataclass
class TriageSuggestion:
    category: Category | None
    subcategory: Category | None
    category_confidence: float
    category_reason: str
    similar_ticket_ids: list[int]
    priority: str  # 'high' / 'medium' / 'low'
    impact: str
    urgency: str
    priority_reason: str
    signals: tuple[Signal, ...] = field(default_factory=tuple)
    restricted: bool = False


def complaint_phrase(text: str | None) -> str | None:
    """The phrase that makes ``text`` a service-attitude complaint, if any."""
    low = (text or "").lower()
    m = _COMPLAINT_LATIN.search(low) or _COMPLAINT_ZH.search(low)
    return m.group(0) if m else None


def _vote(session: Session, hits: list[tuple[int, float]], language: str | None):
    """(category, subcategory, confidence, reason) from the neighbours' categories."""
    voters = [(tid, s) for tid, s in hits if s >= MIN_SIMILARITY]
    if not voters:
        return None, None, 0.0, "no similar past tickets yet"
    rows = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_([t for t, _ in voters])))}
    weight: dict[int, float] = {}
    count: dict[int, int] = {}
    for tid, score in voters:
        cat = rows[tid].category_id
        weight[cat] = weight.get(cat, 0.0) + score
        count[cat] = count.get(cat, 0) + 1
    ranked = sorted(weight.items(), key=lambda kv: -kv[1])
    total = sum(weight.values())
    best, best_w = ranked[0]
    confidence = best_w / total if total > 0 else 0.0
    n = len(voters)
    if len(ranked) > 1 and abs(ranked[1][1] - best_w) < 1e-6:
        return None, None, confidence, f"the {n} most similar past tickets are split between categories"
    category = session.get(Category, best)
    label = category.label(language)
    if confidence < MIN_CONFIDENCE:
        return None, None, confidence, (f"only {count[best]} of the {n} most similar past tickets were "
                                        f"'{label}': not enough to suggest it")
    subs: dict[int, float] = {}
    for tid, score in voters:
        t = rows[tid]
        if t.category_id == best and t.subcategory_id is not None:
            subs[t.subcategory_id] = subs.get(t.subcategory_id, 0.0) + score
    sub = None
    if subs:
        ordered = sorted(subs.items(), key=lambda kv: -kv[1])
        tied = len(ordered) > 1 and abs(ordered[1][1] - ordered[0][1]) < 1e-6
        if not tied and ordered[0][1] >= MIN_CONFIDENCE * best_w:
            sub = session.get(Category, ordered[0][0])
    if sub is not None:
        label = f"{label} / {sub.label(language)}"
    return category, sub, confidence, f"{count[best]} of the {n} most similar past tickets were '{label}'"


def suggest(session: Session, text: str, embedder=None, *, language: str | None = None) -> TriageSuggestion:
    """Category and priority for a ticket's text, each with the reason. Without an embedder
    (or with no categorised past tickets) only the priority and the complaint rule apply;
    ``language`` picks the category names used in the reason."""
    from kb import ticket_similarity

    ps = suggest_priority(text, matrix(session))
    similar: list[tuple[int, float]] = []
    if embedder is not None:
        vec = ticket_similarity.encode(embedder, ticket_similarity.embedding_text(text))
        similar = ticket_similarity.nearest(session, vec, model=embedder.name, limit=NEIGHBOURS,
                                            restrict_to=Ticket.category_id.is_not(None))
    phrase = complaint_phrase(text)
    if phrase is not None:
        category, sub = get_category(session, COMPLAINTS[0]), get_category(session, COMPLAINTS[1])
        confidence = 1.0
        reason = f"mentions '{phrase}': a complaint about service attitude, seen by team leads and admins only"
    elif embedder is None:
        category, sub, confidence, reason = None, None, 0.0, "no embedder available to compare with past tickets"
    else:
        category, sub, confidence, reason = _vote(session, similar, language)
    return TriageSuggestion(
        category=category, subcategory=sub, category_confidence=round(confidence, 4), category_reason=reason,
        similar_ticket_ids=[tid for tid, _ in similar], priority=ps.priority.lower(), impact=ps.impact,
        urgency=ps.urgency, priority_reason=ps.reason, signals=tuple(ps.signals),
        restricted=sub is not None and sub.slug == COMPLAINTS[1])


# -- applying and correcting --------------------------------------------------------------

def _slug(session: Session, category_id: int | None) -> str | None:
    return session.get(Category, category_id).slug if category_id else None


def _resolve_categories(session: Session, category_id, subcategory_id) -> tuple[Category | None, Category | None]:
    """Check a (category, subcategory) choice; a subcategory alone implies its parent."""
    cat = session.get(Category, category_id) if category_id else None
    sub = session.get(Category, subcategory_id) if subcategory_id else None
    if category_id and (cat is None or cat.parent_id is not None):
        raise ValidationError("Choose one of the top categories.", "category")
    if subcategory_id and (sub is None or sub.parent_id is None):
        raise ValidationError("Choose one of the subcategories.", "subcategory")
    if sub is not None:
        if cat is not None and sub.parent_id != cat.id:
            raise ValidationError(f"'{sub.name}' is not a subcategory of '{cat.name}'.", "subcategory")
        cat = sub.parent
    return cat, sub


def _level(value, allowed, field_name: str) -> str:
    if value not in allowed:
        raise ValidationError(f"Unknown {field_name} {value!r}; choose one of {', '.join(allowed)}.", field_name)
    return value


def _set_categories(ticket: Ticket, cat: Category | None, sub: Category | None) -> None:
    """Relationship and column together, so neither reads stale before the next flush."""
    ticket.category, ticket.subcategory = cat, sub
    ticket.category_id, ticket.subcategory_id = (cat.id if cat else None), (sub.id if sub else None)


def _is_complaint(sub: Category | None) -> bool:
    return sub is not None and sub.slug == COMPLAINTS[1]


def _correction(session, ticket, field_name, suggested, previous, chosen, actor_id, role, now) -> None:
    session.add(TriageCorrection(ticket_id=ticket.id, field=field_name, suggested=suggested, previous=previous,
                                 chosen=chosen, actor_id=actor_id, actor_role=role, created_at=now))


def apply_to_new_ticket(session: Session, ticket: Ticket, suggestion: TriageSuggestion, *, chosen: dict,
                        now: datetime | None = None) -> None:
    """Fill a just-filed ticket's triage fields: what the requester chose (keys
    ``category_id``, ``subcategory_id``, ``impact``, ``urgency``; None = not chosen), else the
    suggestion. Call before the ``created`` event so the SLA clocks start at the right priority."""
    now = now or ticket.created_at or utcnow()
    cat, sub = _resolve_categories(session, chosen.get("category_id"), chosen.get("subcategory_id"))
    if cat is None:
        cat, sub = suggestion.category, suggestion.subcategory
    elif sub is None and suggestion.category is not None and cat.id == suggestion.category.id:
        sub = suggestion.subcategory
    impact = _level(chosen["impact"], IMPACTS, "impact") if chosen.get("impact") else suggestion.impact
    urgency = _level(chosen["urgency"], URGENCIES, "urgency") if chosen.get("urgency") else suggestion.urgency
    if chosen.get("impact") or chosen.get("urgency"):
        priority, cell = priority_for(impact, urgency, matrix(session))
        priority, reason = priority.lower(), f"chosen by the requester: {cell}"
    else:
        priority, reason = suggestion.priority, suggestion.priority_reason
    ticket.suggested_category_id = suggestion.category.id if suggestion.category else None
    ticket.suggested_priority = suggestion.priority
    _set_categories(ticket, cat, sub)
    ticket.impact, ticket.urgency, ticket.priority, ticket.priority_reason = impact, urgency, priority, reason
    ticket.restricted = _is_complaint(sub)
    s_cat = suggestion.category.slug if suggestion.category else None
    s_sub = suggestion.subcategory.slug if suggestion.subcategory else None
    for name, suggested, final in (("category", s_cat, cat.slug if cat else None),
                                   ("subcategory", s_sub, sub.slug if sub else None),
                                   ("priority", suggestion.priority, priority)):
        if final != suggested:
            _correction(session, ticket, name, suggested, suggested, final, ticket.requester_id, "requester", now)
    session.flush()


def correct(session: Session, actor, ticket: Ticket, *, category_id: int | None = None,
            subcategory_id: int | None = None, impact: str | None = None, urgency: str | None = None,
            priority: str | None = None, reason: str = "", now: datetime | None = None) -> dict:
    """Change a ticket's classification or priority; returns ``{field: (old, new)}``.

    Staff who can work the ticket may change everything, including an explicit priority
    (with a reason); the requester may change category, impact and urgency while the ticket
    is still new. Each changed field is a CATEGORY/PRIORITY event and a correction row.
    """
    if not permissions.can_view_ticket(actor, ticket):
        raise NotFound("We could not find that ticket.")
    if permissions.can_work_ticket(actor, ticket):
        role = actor.role
    elif ticket.requester_id == actor.id and ticket.status == NEW:
        role = "requester"
        if priority is not None:
            raise PermissionDenied("Choose impact and urgency; the priority follows from them.")
    else:
        raise PermissionDenied("You can no longer change how this ticket is classified.")
    reason = clean_text(reason, field="reason", limit=REASON_MAX)
    now = now or utcnow()

    old = {"category": _slug(session, ticket.category_id), "subcategory": _slug(session, ticket.subcategory_id),
           "impact": ticket.impact, "urgency": ticket.urgency, "priority": ticket.priority}
    cat, sub = ticket.category, ticket.subcategory
    if category_id is not None or subcategory_id is not None:
        cat, sub = _resolve_categories(session, category_id, subcategory_id)
        old_sub = ticket.subcategory
        if sub is None and old_sub is not None and cat is not None and old_sub.parent_id == cat.id:
            sub = old_sub  # same category, subcategory not mentioned: keep it
    new_impact = _level(impact, IMPACTS, "impact") if impact is not None else ticket.impact
    new_urgency = _level(urgency, URGENCIES, "urgency") if urgency is not None else ticket.urgency
    new_priority, priority_reason = ticket.priority, ticket.priority_reason
    if priority is not None:
        new_priority = _level((priority or "").lower(), PRIORITY_KEYS, "priority")
        if not reason:
            raise ValidationError("Give a reason for setting the priority by hand.", "reason")
        priority_reason = f"set by {actor.name}: {reason}"
    elif (new_impact, new_urgency) != (ticket.impact, ticket.urgency):
        p, cell = priority_for(new_impact or DEFAULT_IMPACT, new_urgency or DEFAULT_URGENCY, matrix(session))
        new_priority, priority_reason = p.lower(), cell

    new = {"category": cat.slug if cat else None, "subcategory": sub.slug if sub else None,
           "impact": new_impact, "urgency": new_urgency, "priority": new_priority}
    changes = {k: (old[k], new[k]) for k in old if old[k] != new[k]}
    if not changes:
        return {}
    _set_categories(ticket, cat, sub)
    ticket.impact, ticket.urgency, ticket.priority = new_impact, new_urgency, new_priority
    ticket.priority_reason = priority_reason
    ticket.restricted = _is_complaint(sub)
    ticket.updated_at = now
    extra = {"reason": reason} if reason else {}
    cat_keys = [k for k in ("category", "subcategory") if k in changes]
    prio_keys = [k for k in ("impact", "urgency", "priority") if k in changes]
    if cat_keys:  # "from"/"to" are the top categories; the subcategories ride along
        record_event(session, actor, ticket, CATEGORY, now=now, data={
            "from": old["category"], "to": new["category"], "from_subcategory": old["subcategory"],
            "to_subcategory": new["subcategory"], "restricted": ticket.restricted, **extra})
    if prio_keys:  # "from"/"to" are priorities; impact and urgency ride along
        record_event(session, actor, ticket, PRIORITY, now=now, data={
            "from": old["priority"], "to": new["priority"], "from_impact": old["impact"], "to_impact": new_impact,
            "from_urgency": old["urgency"], "to_urgency": new_urgency, "priority_reason": priority_reason,
            **extra})
    suggested = {"category": _slug(session, ticket.suggested_category_id), "subcategory": None,
                 "priority": ticket.suggested_priority}
    for name in ("category", "subcategory", "priority"):
        if name in changes:
            _correction(session, ticket, name, suggested[name], old[name], new[name], actor.id, role, now)
    session.flush()
    return changes


# -- accuracy -----------------------------------------------------------------------------

def accuracy_report(session: Session, since: datetime | None = None) -> dict:
    """Per field: tickets that had a suggestion, how many still hold it, the share, and the
    corrections by role (``since`` limits to tickets filed from then on)."""
    fields = {"category": (Ticket.suggested_category_id, Ticket.category_id),
              "priority": (Ticket.suggested_priority, Ticket.priority)}
    report: dict = {}
    for name, (suggested, final) in fields.items():
        stmt = select(func.count(Ticket.id), func.coalesce(func.sum(case((final == suggested, 1), else_=0)), 0)) \
            .where(suggested.is_not(None))
        if since is not None:
            stmt = stmt.where(Ticket.created_at >= since)
        total, kept = session.execute(stmt).one()
        report[name] = {"suggested": int(total), "kept": int(kept),
                        "accuracy": (kept / total) if total else None, "corrections": {}}
    stmt = (select(TriageCorrection.field, TriageCorrection.actor_role, func.count(TriageCorrection.id))
            .join(Ticket, Ticket.id == TriageCorrection.ticket_id)
            .where(TriageCorrection.field.in_(list(fields)))
            .group_by(TriageCorrection.field, TriageCorrection.actor_role))
    if since is not None:
        stmt = stmt.where(Ticket.created_at >= since)
    for name, role, n in session.execute(stmt):
        report[name]["corrections"][role or "system"] = int(n)
    return report

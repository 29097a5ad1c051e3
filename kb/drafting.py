"""Drafting a knowledge article from resolved tickets, and the pre-publish personal-data check.

The draft is written from what the ticket already holds (the requester's description, the
plan, the public replies, the resolution), summarised by a :class:`kb.summarise.Summariser`
and de-personalised with :mod:`kb.pii` *before* it is stored, so no other reader (not the
reviewer, not the revision history, not the index) ever sees the personal data.

Internal notes never enter a public draft: they are not even read unless the agent asks
for an internal article (``include_internal=True``), and then the article is internal and
its first revision says so (``INTERNAL_FLAG``), which :func:`check_publishable` enforces
when it is published: such an article can never be published for requesters.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import articles, permissions, pii
from kb.articles_models import LANGS, Article
from kb.errors import InvalidTransition, NotFound, ValidationError
from kb.loop_models import ArticleSource
from kb.summarise import CaseText, ExtractiveSummariser, Summariser, Summary
from kb.ticket_flow import CLOSED, RESOLVED
from kb.ticket_messages import TicketMessage
from kb.ticket_records import ResolutionPlan
from kb.tickets import Ticket
from kb.users import User

DRAFTABLE = (RESOLVED, CLOSED)
MAX_TICKETS = 50
PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in pii.PLACEHOLDERS.values()))
INTERNAL_FLAG = "Drafted with internal notes"  # how the first revision note starts
ENVIRONMENT_TERMS = [  # (pattern, how the article names it): what a reader checks against their own setup
    (r"windows\s*1[01]|windows", None), (r"mac\s?os(?:\s*\d+)?", "macOS"), (r"\bios\b", "iOS"),
    (r"android", "Android"), (r"linux|ubuntu", None), (r"outlook", "Outlook"), (r"\bteams\b", "Teams"),
    (r"excel", "Excel"), (r"(microsoft|ms) word", "Word"), (r"onedrive", "OneDrive"), (r"sharepoint", "SharePoint"),
    (r"office\s*365|microsoft 365", None),
    (r"chrome", "Chrome"), (r"\bedge\b", "Edge"), (r"firefox", "Firefox"), (r"safari", "Safari"),
    (r"anyconnect", "Cisco AnyConnect"), (r"globalprotect", "GlobalProtect"), (r"forticlient", "FortiClient"),
    (r"\bvpn\b", "VPN"), (r"wi-?fi|wlan", "Wi-Fi"), (r"zoom", "Zoom"), (r"\bsap\b", "SAP"), (r"laptop", "laptop"),
    (r"desktop", "desktop"), (r"printer", "printer"), (r"scanner", "scanner"), (r"iphone", "iPhone"),
    (r"ipad", "iPad"), (r"monitor", "monitor"), (r"docking station|dock\b", "docking station"),
    (r"authenticator", "Authenticator app"), (r"bitlocker", "BitLocker"),
]
STOPWORDS = set("""this that with from have will would could should there their they them then than when what which
    while after before about into your yours been being were does done doing also just only some more most very
    again still cannot can't doesn't didn't won't isn't please thanks thank hello since today yesterday morning
    problem issue error working works work help need needs trying tried every here where other same these those
    name email phone host address employee redacted the and for was but not you are has had his her its our out
    can get got did one two all any now new off see use why how who too via per yes""".split())


@dataclass
class Draft:
    """The article's content before it is stored (also what the dedup proposal shows)."""

    title: str
    body: str
    category: str
    subcategory: str | None
    tags: list[str]
    audience: str
    lang: str
    findings: list[pii.Finding]


# ------------------------------------------------------------------ reading
def _messages(session: Session, ticket: Ticket, include_internal: bool) -> list[tuple[TicketMessage, User]]:
    query = (select(TicketMessage, User).join(User, User.id == TicketMessage.author_id)
             .where(TicketMessage.ticket_id == ticket.id))
    if not include_internal:
        query = query.where(TicketMessage.internal.is_(False))  # never even read for a public draft
    return [(m, u) for m, u in session.execute(query.order_by(TicketMessage.created_at, TicketMessage.id))]


def _latest_plan(session: Session, ticket: Ticket) -> ResolutionPlan | None:
    return session.scalar(select(ResolutionPlan).where(ResolutionPlan.ticket_id == ticket.id)
                          .order_by(ResolutionPlan.created_at.desc(), ResolutionPlan.id.desc()).limit(1))


def case_text(session: Session, tickets: list[Ticket], include_internal: bool = False) -> CaseText:
    """Everything the summariser may read; the first ticket's title and description lead."""
    first = tickets[0]
    case = CaseText(title=first.title, description=first.description)
    diagnoses, steps, resolutions = [], [], []
    for ticket in tickets:
        if ticket is not first:
            case.requester_replies.append(ticket.description)
        for message, author in _messages(session, ticket, include_internal):
            if permissions.is_staff(author):
                case.staff_replies.append(message.body)
            elif author.id == ticket.requester_id:
                case.requester_replies.append(message.body)
        plan = _latest_plan(session, ticket)
        if plan is not None:
            diagnoses.append(plan.diagnosis)
            steps.append(plan.steps)
        resolutions.append(ticket.resolution or "")
    case.diagnosis = "\n".join(d for d in diagnoses if d.strip())
    case.plan_steps = "\n".join(s for s in steps if s.strip())
    case.resolution = "\n".join(r for r in resolutions if r.strip())
    return case


def system_names(session: Session) -> list[str]:
    """The names of every user in the system (the names :mod:`kb.pii` removes)."""
    return [n for n in session.scalars(select(User.name)) if n]


def contacts_of(session: Session, tickets) -> list[tuple[str, str]]:
    """The tickets' contact details and their requesters' (any format, found literally)."""
    extra = []
    for t in tickets:
        requester = t.requester or session.get(User, t.requester_id)
        extra += [("email", t.contact_email), ("phone", t.contact_phone), ("email", requester.email),
                  ("phone", requester.phone)]
    return [(kind, value) for kind, value in extra if value]


# ----------------------------------------------------------------- writing
def _sentence(s: str) -> str:
    s = s.strip()
    return s[:1].upper() + s[1:] if s else s


def _environment(tickets: list[Ticket], text: str) -> list[str]:
    first = tickets[0]
    category, sub = _category_of(first)
    lines = [f"- Category: {category.name}" + (f" / {sub.name}" if sub else "")]
    lines.append("- Reported by: " + ", ".join(sorted({t.channel for t in tickets})))
    found = []
    for pattern, label in ENVIRONMENT_TERMS:
        m = re.search(pattern, text, re.I)
        if m:
            name = label or " ".join(w[:1].upper() + w[1:] for w in m.group().split())
            if name not in found:
                found.append(name)
    if found:
        lines.append("- Software and devices: " + ", ".join(found))
    return lines


def _category_of(ticket: Ticket):
    category, sub = ticket.category, ticket.subcategory
    if category is None and sub is not None:
        category = sub.parent
    if category is not None and category.parent_id is not None:  # a subcategory stored as the category
        category, sub = category.parent, category
    return category, sub


def compose(tickets: list[Ticket], summary: Summary, environment_text: str) -> str:
    """The Markdown body: Problem, Environment, Cause, Resolution, Sources."""
    problem = " ".join(_sentence(s) for s in summary.problem)
    cause = " ".join(_sentence(s) for s in summary.cause) or "_Not recorded in the ticket: add it if you know it._"
    steps = "\n".join(f"{i}. {_sentence(s)}" for i, s in enumerate(summary.steps, 1)) or \
        "_No steps recorded: describe the fix._"
    sources = ", ".join(t.reference for t in tickets)
    return "\n\n".join([
        "## Problem", problem, "## Environment", "\n".join(_environment(tickets, environment_text)),
        "## Cause", cause, "## Resolution", steps, f"Sources: {sources}"]) + "\n"


def keywords(text: str, limit: int = 4) -> list[str]:
    """The most frequent content words (already de-personalised text only)."""
    words = [w for w in re.findall(r"[a-z][a-z0-9-]{2,}", text.lower()) if w not in STOPWORDS]
    return [w for w, n in Counter(words).most_common(limit) if n >= 2]  # said more than once


def build_draft(session: Session, tickets: list[Ticket], *, embedder=None, summariser: Summariser | None = None,
                include_internal: bool = False) -> Draft:
    """The de-personalised draft (not stored): for :func:`draft_from_tickets` and proposals."""
    case = case_text(session, tickets, include_internal)
    summary = (summariser or ExtractiveSummariser(embedder)).summarise(case)
    env_text = "\n".join([case.title, case.description, *case.requester_replies, *case.staff_replies,
                          case.plan_steps, case.resolution])
    pattern = pii.name_pattern(system_names(session))
    extra = contacts_of(session, tickets)
    found: list[pii.Finding] = []

    def clean(items: list[str]) -> list[str]:
        """Scrub each sentence; drop what was only personal data (a signature: "[name]")."""
        out = []
        for item in items:
            text, findings = pii.scrub(item, pattern=pattern, extra=extra)
            found.extend(findings)
            if re.search(r"\w{2,}", PLACEHOLDER_RE.sub("", text)):
                out.append(text)
        return out

    summary = Summary(problem=clean(summary.problem), cause=clean(summary.cause), steps=clean(summary.steps))
    title, found_title = pii.scrub(tickets[0].title, pattern=pattern, extra=extra)
    body, found_body = pii.scrub(compose(tickets, summary, env_text), pattern=pattern, extra=extra)  # the rest
    category, sub = _category_of(tickets[0])
    if category is None:
        raise ValidationError("Classify the ticket (category) before drafting an article from it.", "category")
    title = " ".join(title.split())[:articles.TITLE_MAX]
    if len(title) < articles.TITLE_MIN:
        title = f"{category.name}: {title}"[:articles.TITLE_MAX]
    tags = [category.slug] + ([sub.slug] if sub else [])
    problem_and_fix = body.split("## Environment")[0] + body.split("## Resolution")[-1]  # de-personalised text
    tags += [w for w in keywords(f"{title} {problem_and_fix}") if w not in tags]
    lang = tickets[0].language if tickets[0].language in LANGS else "en"
    return Draft(title=title, body=body, category=category.slug, subcategory=sub.slug if sub else None,
                 tags=tags[:8], audience="internal" if include_internal else "public", lang=lang,
                 findings=found_title + found + found_body)


def check_tickets(session: Session, actor, tickets) -> list[Ticket]:
    tickets = list(dict.fromkeys(tickets))
    if not tickets:
        raise ValidationError("Choose at least one ticket to draft from.", "tickets")
    if len(tickets) > MAX_TICKETS:
        raise ValidationError(f"Draft from at most {MAX_TICKETS} tickets at once.", "tickets")
    for ticket in tickets:
        if not permissions.can_view_ticket(actor, ticket):
            raise NotFound("We could not find that ticket.")
        permissions.require(permissions.can_draft_article(actor, ticket),
                            "Only the support agents who work a ticket can draft an article from it.")
        if ticket.status not in DRAFTABLE:
            raise InvalidTransition(f"{ticket.reference} is {ticket.status.replace('_', ' ')}: draft an article "
                                    "once the ticket is resolved or closed.")
    return tickets


def draft_from_tickets(session: Session, actor, tickets, *, embedder, summariser: Summariser | None = None,
                       include_internal: bool = False) -> Article:
    """A new draft article from resolved or closed tickets, de-personalised, linked to them.

    ``include_internal`` lets the summariser read internal notes too; the article is then
    internal (staff only) and can never be published for requesters."""
    tickets = check_tickets(session, actor, tickets)
    draft = build_draft(session, tickets, embedder=embedder, summariser=summariser,
                        include_internal=include_internal)
    return store_draft(session, actor, tickets, draft)


def store_draft(session: Session, actor, tickets: list[Ticket], draft: Draft) -> Article:
    """Store a draft built by :func:`build_draft` from these (checked) tickets, linked to them;
    a draft that read internal notes (audience internal) is noted so at revision 1."""
    refs = ", ".join(t.reference for t in tickets)
    note = f"{INTERNAL_FLAG if draft.audience == 'internal' else 'Drafted'} from {refs}"
    article = articles.create_article(session, actor, title=draft.title, body=draft.body, category=draft.category,
                                      subcategory=draft.subcategory, tags=draft.tags, audience=draft.audience,
                                      lang=draft.lang, note=note[:articles.NOTE_MAX])
    for ticket in tickets:
        session.add(ArticleSource(article_id=article.id, ticket_id=ticket.id))
    session.flush()
    return article


# ------------------------------------------------------- the pre-publish check
@dataclass(frozen=True)
class Where:
    """A finding in an article, with the text around it (to show where it is)."""

    field: str  # "title" or "body"
    kind: str
    before: str
    match: str
    after: str


def source_tickets(session: Session, article: Article) -> list[Ticket]:
    return list(session.scalars(select(Ticket).join(ArticleSource, ArticleSource.ticket_id == Ticket.id)
                                .where(ArticleSource.article_id == article.id).order_by(Ticket.id)))


def drafted_from(session: Session, actor, article: Article) -> list[Ticket]:
    """The source tickets this actor may open (the "Drafted from" line for staff)."""
    if not permissions.is_staff(actor):
        return []
    return [t for t in source_tickets(session, article) if permissions.can_view_ticket(actor, t)]


def personal_data_in(session: Session, article: Article) -> list[Where]:
    """Personal data left in an article drafted from tickets (none checked for the others:
    hand-written articles legitimately give the service desk's mailbox and phone)."""
    sources = source_tickets(session, article)
    if not sources:
        return []
    pattern, extra = pii.name_pattern(system_names(session)), contacts_of(session, sources)
    out = []
    for field_name, text in (("title", article.title), ("body", article.body)):
        for finding in pii.find(text, pattern=pattern, extra=extra):
            out.append(Where(field_name, finding.kind, *pii.excerpt(text, finding)))
    return out


def check_publishable(session: Session, article: Article) -> None:
    """Refuse to publish a drafted article that still holds personal data, or that was drafted
    with internal notes for any audience but staff. Called by kb.articles.transition_article."""
    found = personal_data_in(session, article)
    if found:
        shown = "; ".join(f"{w.kind} in the {w.field}: “{w.before}{w.match}{w.after}”" for w in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise ValidationError(f"Remove the personal data before publishing ({len(found)} found): {shown}{more}.",
                              "body")
    first = article.revisions[0] if article.revisions else None
    if first is not None and (first.note or "").startswith(INTERNAL_FLAG) and article.audience != "internal":
        raise ValidationError("This article was drafted with internal notes: it can only be published for staff "
                              "(audience internal).", "audience")

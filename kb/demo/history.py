"""Several months of demo history, so every insights dashboard has something to show.

``history.yaml`` holds templates; :func:`load_demo_history` turns them into about 300 tickets
and 290 "Get help" sessions over the last :data:`DAYS` days with a fixed random seed: volume
rising month by month with fewer at weekends, every category, channel and priority, recurring
problems that grow or shrink over the last month (one with no article), Chinese tickets, an
open backlog of every age, SLA breaches, reopened and transferred tickets, staff corrections
of triage, surveys that differ per agent, and self-service sessions that were deflected (held
or failed), ended in a ticket or were abandoned, with needs nobody answers (content gaps).

Nothing is written around the services: every ticket is filed, routed, worked, resolved,
confirmed and rated through them with a backdated ``now`` (as :mod:`kb.demo.cases` does), the
sessions go through :mod:`kb.intake`, and the scheduler runs once at the end so the open
tickets' breaches are escalated. The ticket texts are encoded in one batch first
(:class:`_Prepared`), so the real model costs seconds, not minutes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import intake, routing, surveys, ticket_work as work, triage_service
from kb.articles_models import Article
from kb.contacts import find_or_create_contact
from kb.db import utcnow
from kb.intake_models import IntakeSession
from kb.taxonomy import get_category
from kb.teams import TeamCategory
from kb.ticket_similarity import embedding_text
from kb.tickets import Ticket, create_ticket
from kb.users import User, get_user_by_email

HISTORY_FILE = Path(__file__).parent / "history.yaml"
SEED = 20260601
DAYS = 150
BACKGROUND_TICKETS = 186
CHINESE_TICKETS = 20
DEFLECTED_SESSIONS = 140
ABANDONED_SESSIONS = 60
TOKEN_PREFIX = "demo-history-"  # every session's token: how a second load knows it ran
LEAD = "lead@contoso.example"
AGENTS = ("agent@contoso.example", "liwei@contoso.example")
REQUESTERS = ("alice@contoso.example", "bob@contoso.example")
CHANNELS = (("portal", 50), ("email", 25), ("phone", 15), ("chat", 10))
# (impact, urgency) -> weight: mostly medium, some low, a few high
LEVELS = ((("single", "impeded"), 40), (("single", "stopped"), 12), (("single", "can_wait"), 22),
          (("several", "impeded"), 12), (("several", "stopped"), 6), (("all", "can_wait"), 3),
          (("all", "impeded"), 3), (("all", "stopped"), 2))
# Per agent: how requesters rate them (added to a base of about 4); agent@ is quicker, liwei@
# explains better.
RATING_BIAS = {"agent@contoso.example": {"speed": 0.5, "effectiveness": 0.1, "communication": -0.2},
               "liwei@contoso.example": {"speed": -0.4, "effectiveness": 0.0, "communication": 0.4}}
POOR_COMMENTS = ("It took days before anyone answered.", "The first fix did not work and I had to chase it.",
                 "Nobody told me what was going on.", "Solved in the end, but far too slow.")
GOOD_COMMENTS = ("Quick and friendly, thank you!", "Clear explanation, fixed in minutes.", "")
OPEN_STATUSES = ("assigned", "acknowledged", "in_progress", "waiting", "reopened")


@dataclass
class Plan:
    """One ticket to file and how its life goes."""

    at: datetime
    requester: str
    title: str
    description: str
    category: str
    subcategory: str | None
    resolution: str
    impact: str
    urgency: str
    channel: str = "portal"
    article: str | None = None
    steps: str | None = None
    lang: str = "en"
    fate: str = "closed"             # closed, resolved, new or one of OPEN_STATUSES
    late_response: bool = False
    late_resolution: bool = False
    reopen: bool = False
    transfer: bool = False
    wait: bool = False
    uncategorised: bool = False      # filed without a category: triage suggests, staff correct
    workaround: bool = False         # staff lower the priority: the requester can work meanwhile
    queries: list[str] = field(default_factory=list)  # the Get help session it came from
    deflected_first: bool = False    # that session was "solved" by the article first (it failed)


@dataclass
class Visit:
    """A Get help session that did not become a ticket."""

    at: datetime
    user: str | None
    queries: list[str]
    article: str | None = None       # deflected by it; None: abandoned


def _read() -> dict:
    return yaml.safe_load(HISTORY_FILE.read_text(encoding="utf-8"))


def _business(at: datetime) -> bool:
    return at.weekday() < 5 and 7 <= at.hour < 19


def _next_open(at: datetime) -> datetime:
    """``at``, or the next opening of the business-hours calendar (weekdays 07-19 UTC)."""
    while not _business(at):
        if at.weekday() < 5 and at.hour < 7:
            at = at.replace(hour=7, minute=5, second=0, microsecond=0)
        else:
            at = datetime.combine(at.date() + timedelta(days=1), time(7, 5), tzinfo=at.tzinfo)
    return at


class _Calendar:
    """Random moments with the demo's rhythm: more each month, few at weekends."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng, self.now = rng, now
        self.days = list(range(1, DAYS + 1))

    def weight(self, days_ago: int) -> float:
        day = (self.now - timedelta(days=days_ago)).weekday()
        return (0.5 + 1.5 * (DAYS - days_ago) / DAYS) * (0.2 if day >= 5 else 1.0)

    def moment(self, lo: int = 1, hi: int = DAYS, hours=(7.5, 18.5)) -> datetime:
        days = [d for d in self.days if lo <= d <= hi]
        d = self.rng.choices(days, weights=[self.weight(x) for x in days])[0]
        day = (self.now - timedelta(days=d)).date()
        hour = self.rng.uniform(*hours) if day.weekday() < 5 else self.rng.uniform(9, 17)
        return datetime.combine(day, time(0), tzinfo=self.now.tzinfo) + timedelta(hours=hour)


def _fate(rng: random.Random, at: datetime, now: datetime, high: bool) -> str:
    age = (now - at).total_seconds() / 86400
    share = 0.6 if age < 2 else 0.25 if age < 7 else 0.08 if age < 30 else 0.03
    if high and age > 1:
        share /= 3
    if rng.random() < share:
        return rng.choices(OPEN_STATUSES + ("new",), weights=(15, 25, 25, 20, 8, 7))[0]
    return "resolved" if rng.random() < 0.07 else "closed"


def _plans(data: dict, rng: random.Random, now: datetime) -> tuple[list[Plan], list[Visit]]:
    cal = _Calendar(rng, now)
    people = [p["email"] for p in data["people"]]
    plans: list[Plan] = []

    def add(t: dict, at: datetime, requester: str, title: str, description: str, *, lang="en", levels=None):
        impact, urgency = levels or rng.choices([lv for lv, _ in LEVELS], weights=[w for _, w in LEVELS])[0]
        channel = ("portal" if lang == "zh" else
                   rng.choices([c for c, _ in CHANNELS], weights=[w for _, w in CHANNELS])[0])
        high = (impact, urgency) in (("several", "stopped"), ("all", "impeded"), ("all", "stopped"))
        plan = Plan(at=at, requester=requester, title=title, description=description, category=t["category"],
                    subcategory=t.get("subcategory"), resolution=t["resolution"], impact=impact, urgency=urgency,
                    channel=channel, article=t.get("article"), steps=t.get("steps"), lang=lang,
                    fate=_fate(rng, at, now, high), late_response=rng.random() < 0.09,
                    late_resolution=rng.random() < 0.09, reopen=rng.random() < 0.08,
                    transfer=rng.random() < 0.05, wait=rng.random() < 0.15,
                    uncategorised=channel != "portal" and rng.random() < 0.3, workaround=rng.random() < 0.05)
        if channel == "portal" and rng.random() < 0.45:
            plan.queries = [title.lower()]
            plan.deflected_first = bool(plan.article) and rng.random() < 0.25
        plans.append(plan)
        return plan

    for p in data["problems"]:
        spans = [(1, 29, p["recent"]), (31, 58, p["previous"]), (61, DAYS, p["older"])]  # the 30-day views
        for lo, hi, n in spans:
            for _ in range(n):
                levels = (rng.choice(p["impact"]), rng.choice(p["urgency"]))
                add(p, cal.moment(lo, hi), rng.choice(REQUESTERS + tuple(people)), rng.choice(p["titles"]),
                    rng.choice(p["descriptions"]), levels=levels)
    for p in plans:  # a recurring problem's newest reports: none still open within a day (duplicates)
        if (now - p.at) < timedelta(days=1):
            p.fate = "closed" if (now - p.at) > timedelta(hours=8) else "acknowledged"
    for _ in range(BACKGROUND_TICKETS):
        t = rng.choice(data["background"])
        if t.get("high") and rng.random() < 0.6:
            t = rng.choice(data["background"])
        levels = rng.choice((("all", "stopped"), ("several", "stopped"))) if t.get("high") else None
        add(t, cal.moment(hours=(0, 24) if t.get("high") else (7.5, 18.5)),
            rng.choice(REQUESTERS * 4 + tuple(people)), rng.choice(t["titles"]), rng.choice(t["descriptions"]),
            levels=levels)
    for _ in range(CHINESE_TICKETS):
        t = rng.choice(data["chinese"])
        add(t, cal.moment(), "wangfang@contoso.example", rng.choice(t["titles"]), rng.choice(t["descriptions"]),
            lang="zh", levels=rng.choice((("single", "impeded"), ("single", "stopped"), ("single", "can_wait"))))
    for gap in data["gaps"]:  # some unanswered needs end in a ticket
        t = gap.get("ticket")
        for _ in range(gap.get("tickets", 0)):
            query = rng.choice(gap["queries"])
            plan = add(t, cal.moment(), rng.choice(REQUESTERS + tuple(people)), query.capitalize(),
                       t["description"], levels=("single", "can_wait"))
            plan.channel, plan.queries, plan.uncategorised = "portal", [query], False

    visits: list[Visit] = []
    users = list(REQUESTERS) + people[:6] + ["wangfang@contoso.example"]
    for _ in range(DEFLECTED_SESSIONS):
        topic = rng.choice(data["deflect"])
        query = rng.choice(topic["queries"])
        zh = not query.isascii()
        user = "wangfang@contoso.example" if zh else (None if rng.random() < 0.12 else rng.choice(users[:-1]))
        typed = [query[:max(3, len(query) // 2)], query] if rng.random() < 0.5 and not zh else [query]
        visits.append(Visit(at=cal.moment(), user=user, queries=typed, article=topic["article"]))
    for _ in range(ABANDONED_SESSIONS):
        source = rng.choice(data["gaps"]) if rng.random() < 0.85 else rng.choice(data["deflect"])
        user = None if rng.random() < 0.2 else rng.choice(users[:-1])
        visits.append(Visit(at=cal.moment(), user=user, queries=[rng.choice(source["queries"])]))
    return plans, visits


class _Loader:
    def __init__(self, session: Session, data: dict, rng: random.Random, now: datetime, embedder):
        self.session, self.rng, self.now, self.embedder = session, rng, now, embedder
        self.people = {p["email"]: p for p in data["people"]}
        self.articles = dict(session.execute(
            select(Article.source_id, Article.id)
            .where(Article.source_id.is_not(None), Article.status == "published")).all())
        self.article_ids = sorted(self.articles.values())
        self.lead = get_user_by_email(session, LEAD)
        self.agents = [u for u in (get_user_by_email(session, e) for e in AGENTS) if u is not None]
        self.tokens = 0
        self.users: dict[str, User] = {}
        self.categories: dict[str, object] = {}

    def user(self, email: str | None) -> User | None:
        if email is None:
            return None
        if email not in self.users:
            user = get_user_by_email(self.session, email)
            if user is None:
                info = self.people.get(email, {})
                user, _ = find_or_create_contact(self.session, email, info.get("name"), phone=info.get("phone"))
            self.users[email] = user
        return self.users[email]

    def category(self, slug: str | None):
        if slug is not None and slug not in self.categories:
            self.categories[slug] = get_category(self.session, slug)
        return self.categories.get(slug)

    def token(self) -> str:
        self.tokens += 1
        return f"{TOKEN_PREFIX}{self.tokens:04d}-{self.rng.getrandbits(96):024x}"

    def shown(self, source_id: str | None) -> list[int]:
        first = [self.articles[source_id]] if source_id in self.articles else []
        return first + [a for a in self.rng.sample(self.article_ids, min(3, len(self.article_ids))) if a not in first]

    def visit(self, v: Visit) -> None:
        who, token = self.user(v.user), self.token()
        at = v.at
        for text in v.queries:
            intake.record_query(self.session, who, token, text, self.shown(v.article), now=at)
            at += timedelta(seconds=self.rng.randint(2, 20))
        if v.article in self.articles:
            aid = self.articles[v.article]
            intake.record_open(self.session, who, token, aid, now=at + timedelta(seconds=5))
            intake.mark_deflected(self.session, who, token, aid, now=at + timedelta(minutes=self.rng.randint(1, 4)))

    # -- tickets -------------------------------------------------------------------------------
    def ticket(self, p: Plan) -> Ticket | None:
        s, rng, now = self.session, self.rng, self.now
        requester = self.user(p.requester)
        cat, sub = self.category(p.category), self.category(p.subcategory)
        session_row = None
        if p.queries:
            token, start = self.token(), p.at - timedelta(minutes=rng.randint(2, 6))
            if p.deflected_first:
                start -= timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 3))
            session_row = intake.record_query(s, requester, token, p.queries[0], self.shown(p.article), now=start)
            if p.deflected_first and p.article in self.articles:
                intake.mark_deflected(s, requester, token, self.articles[p.article], now=start + timedelta(minutes=2))
        filer = rng.choice(self.agents) if p.channel == "phone" else requester
        wrong = self._wrong_category(p) if p.transfer else None
        chosen = None if p.uncategorised else (wrong or sub or cat)
        ticket = create_ticket(s, filer, requester=requester, title=p.title, description=p.description,
                               channel=p.channel, intake=session_row,
                               category_id=(chosen.parent_id or chosen.id) if chosen else None,
                               subcategory_id=chosen.id if chosen is not None and chosen.parent_id else None,
                               impact=p.impact, urgency=p.urgency, embedder=self.embedder,
                               route=p.fate != "new", now=p.at)
        if p.fate == "new":
            return ticket
        worker = ticket.assignee
        if worker is None:
            worker = self.agents[0]
            work.take(s, worker, ticket, now=p.at + timedelta(minutes=1))
        if p.fate == "assigned":
            return ticket
        high = ticket.priority == "high"
        base = p.at if high else _next_open(p.at)
        reply_at = base + self._response_delay(ticket.priority, p.late_response)
        ack_at = max(p.at + timedelta(minutes=2), reply_at - timedelta(minutes=rng.randint(1, 5)))
        reply_at = max(reply_at, ack_at + timedelta(seconds=30))
        if reply_at >= now - timedelta(minutes=30):
            return ticket
        if ticket.category_id != cat.id or (sub is not None and ticket.subcategory_id != sub.id):
            worker = self._correct(ticket, worker, sub or cat, ack_at - timedelta(seconds=50), transfer=p.transfer)
        if p.workaround and ticket.priority == "medium":
            triage_service.correct(s, worker, ticket, priority="low", now=ack_at - timedelta(seconds=20),
                                   reason="工作可以继续，有临时办法。" if p.lang == "zh" else
                                   "The requester has a workaround and can keep working.")
        expected = ack_at + (timedelta(hours=3) if high else timedelta(days=rng.choice((1, 2, 3))))
        work.acknowledge(s, worker, ticket, planned_actions=self._actions(p), expected_completion_at=expected,
                         now=ack_at)
        work.reply(s, worker, ticket, self._greeting(p, requester), now=reply_at)
        if p.fate == "acknowledged":
            return ticket
        at = reply_at + timedelta(minutes=rng.randint(10, 90))
        if p.steps and at < now:
            work.save_plan(s, worker, ticket, diagnosis="Reproduced the problem.", steps=p.steps, now=at)
        if p.wait or p.fate == "waiting":
            at += timedelta(minutes=rng.randint(5, 60))
            if at >= now:
                return ticket
            question = "能否发一张错误信息的截图？" if p.lang == "zh" else "Could you send a screenshot of the error message?"
            work.ask_requester(s, worker, ticket, question, now=at)
            if p.fate == "waiting":
                return ticket
            at += timedelta(hours=rng.uniform(1, 20))
            if at >= now:
                return ticket
            work.reply(s, requester, ticket, "截图已附上。" if p.lang == "zh" else "Here it is, thanks.", now=at)
        if p.fate == "in_progress":
            if ticket.status != "in_progress":
                work.start_work(s, worker, ticket, now=max(reply_at + timedelta(minutes=1),
                                                           min(at, now - timedelta(minutes=1))))
            return ticket
        resolved_at = max(at + timedelta(minutes=20), base + self._resolution_delay(ticket.priority, p.late_resolution))
        if resolved_at >= now - timedelta(minutes=10):
            return ticket
        if p.article in self.articles:
            work.link_article(s, worker, ticket, self.articles[p.article], now=resolved_at - timedelta(minutes=3))
        work.resolve(s, worker, ticket, p.resolution, now=resolved_at)
        at = resolved_at
        if p.reopen or p.fate == "reopened":
            at += timedelta(hours=rng.uniform(2, 26))
            if at >= now:
                return ticket
            work.reopen(s, requester, ticket, "仍然有问题。" if p.lang == "zh" else "It happened again this morning.",
                        now=at)
            if p.fate == "reopened":
                return ticket
            at += timedelta(minutes=rng.randint(20, 240))
            second = at + timedelta(hours=rng.uniform(2, 30))
            if second >= now:
                return ticket
            work.start_work(s, worker, ticket, now=at)
            work.resolve(s, worker, ticket, p.resolution + (" 已再次检查。" if p.lang == "zh" else
                                                            " Checked again and replaced the faulty setting."),
                         now=second)
            at = second
        confirm_at = at + timedelta(hours=rng.uniform(0.5, 40))
        if p.fate == "resolved" or confirm_at >= now:
            return ticket
        work.confirm(s, requester, ticket, now=confirm_at)
        if rng.random() < 0.6:
            self._survey(p, requester, ticket, worker, confirm_at + timedelta(minutes=rng.randint(2, 90)))
        return ticket

    def _wrong_category(self, p: Plan):
        """A category owned by another team, as a requester who picked the wrong one would."""
        owner = {c.category_id: c.team_id for c in self.session.scalars(select(TeamCategory))}
        mine = get_category(self.session, p.category)
        others = [slug for slug in ("software", "network", "hardware", "access")
                  if (c := get_category(self.session, slug)) is not None and owner.get(c.id) != owner.get(mine.id)]
        return get_category(self.session, self.rng.choice(others)) if others else None

    def _correct(self, ticket: Ticket, worker: User, right, at: datetime, *, transfer: bool) -> User:
        """Staff put the right category; when another team owns it, the lead transfers the ticket."""
        top = right.parent_id or right.id
        triage_service.correct(self.session, worker, ticket, category_id=top,
                               subcategory_id=right.id if right.parent_id else None, now=at)
        owner = routing.owning_team(self.session, ticket.subcategory or ticket.category)
        if owner is not None and owner.id != ticket.team_id and (transfer or self.rng.random() < 0.5) \
                and self.lead is not None:
            decision = routing.transfer(self.session, self.lead, ticket, owner.id, "Belongs to this team's category.",
                                        now=at + timedelta(seconds=30))
            if ticket.status == "new":
                return worker
            return decision.assignee or worker
        return worker

    def _response_delay(self, priority: str, late: bool) -> timedelta:
        r = self.rng
        if priority == "high":
            return timedelta(minutes=r.randint(25, 120) if late else r.randint(3, 12))
        if priority == "medium":
            return timedelta(hours=r.uniform(30, 50)) if late else timedelta(minutes=r.randint(8, 150))
        return timedelta(hours=r.uniform(50, 80)) if late else timedelta(minutes=r.randint(20, 300))

    def _resolution_delay(self, priority: str, late: bool) -> timedelta:
        r = self.rng
        if priority == "high":
            return timedelta(hours=r.uniform(6, 30) if late else r.uniform(1, 3.5))
        if priority == "medium":
            return timedelta(days=r.uniform(7, 10)) if late else timedelta(hours=r.uniform(2, 40))
        return timedelta(days=r.uniform(10, 14)) if late else timedelta(hours=r.uniform(4, 72))

    @staticmethod
    def _actions(p: Plan) -> str:
        return "查看问题并回复下一步。" if p.lang == "zh" else "Look into it and reply with the next steps."

    @staticmethod
    def _greeting(p: Plan, requester: User) -> str:
        if p.lang == "zh":
            return f"{requester.name}，您好！我们已收到您的请求，正在处理。"
        return f"Hi {requester.name.split()[0]}, thanks for reporting this. I'm looking into it now."

    def _survey(self, p: Plan, requester: User, ticket: Ticket, worker: User, at: datetime) -> None:
        bias = RATING_BIAS.get(worker.email, {})
        base = self.rng.gauss(4.1, 0.6)
        minus = {"speed": 1.6 if (p.late_response or p.late_resolution) else 0.0,
                 "effectiveness": 1.6 if p.reopen else 0.0, "communication": 0.0}
        rate = {d: max(1, min(5, round(base + bias.get(d, 0) - minus[d] + self.rng.gauss(0, 0.4))))
                for d in ("speed", "effectiveness", "communication")}
        poor = min(rate.values()) <= 2
        comment = self.rng.choice(POOR_COMMENTS) if poor else self.rng.choice(GOOD_COMMENTS)
        if p.lang == "zh":
            comment = "处理太慢了。" if poor else "谢谢，很快就解决了！"
        surveys.submit_survey(self.session, requester, ticket, comment=comment, now=at, **rate)


class _Prepared:
    """The caller's embedder with the history's ticket texts encoded in one batch up front:
    filing a ticket encodes its text twice (triage's neighbours, the stored vector), and one
    call per text costs the real model far more than one batch for all (same vectors)."""

    def __init__(self, embedder, plans: list[Plan]):
        self.embedder, self.name = embedder, embedder.name
        texts = []
        for p in plans:
            texts += [embedding_text(f"{p.title}\n{p.description}"), embedding_text(p.title, p.description)]
        self.cache: dict[str, np.ndarray] = {}
        self._add(list(dict.fromkeys(texts)))

    def _add(self, texts: list[str]) -> None:
        if texts:
            self.cache.update(zip(texts, np.asarray(self.embedder.encode(texts), dtype=np.float32)))

    def encode(self, texts, **_kw) -> np.ndarray:
        texts = list(texts)
        self._add([t for t in dict.fromkeys(texts) if t not in self.cache])
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)


def history_loaded(session: Session) -> bool:
    return session.scalar(select(IntakeSession.id).where(IntakeSession.token.like(TOKEN_PREFIX + "%")).limit(1)) \
        is not None


def load_demo_history(session: Session, *, embedder=None, now: datetime | None = None) -> int:
    """Load the history once (a second call adds nothing); returns the number of tickets added."""
    if history_loaded(session) or not session.scalar(select(User.id).where(User.email == LEAD)):
        return 0
    from kb.scheduler import run_scheduler

    now = now or utcnow()
    rng = random.Random(SEED)
    data = _read()
    plans, visits = _plans(data, rng, now)
    loader = _Loader(session, data, rng, now, _Prepared(embedder, plans) if embedder is not None else None)
    episodes = sorted([(p.at, 0, i) for i, p in enumerate(plans)] + [(v.at, 1, i) for i, v in enumerate(visits)])
    added = 0
    for _at, kind, i in episodes:
        if kind == 1:
            loader.visit(visits[i])
        elif loader.ticket(plans[i]) is not None:
            added += 1
    intake.sweep_abandoned(session, now=now)
    run_scheduler(session, now=now)
    session.flush()
    return added

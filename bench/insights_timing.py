"""Insights dashboard timings at 100,000 tickets and 1,000,000 events (issue 6 target: every
dashboard view under 1 s, on SQLite and PostgreSQL).

    .venv/bin/python -m bench.insights_timing                  # SQLite; or: make bench
    .venv/bin/python -m bench.insights_timing --tickets 20000  # smaller, faster
    .venv/bin/python -m bench.insights_timing --database-url postgresql+psycopg://postgres@127.0.0.1:5432/helpdesk_bench

**Data.** The same cached SQLite database as ``bench.queue_timing`` (bench/results/queues-N/,
built once through the real migrations: tickets spread over two years, six teams, twenty
agents, realistic titles from ../shared/datasets/itsm-tickets), to which this adds once,
each part idempotently (a part already there is kept), in bulk (Core inserts, not the services):

* about ten events per ticket (1,000,000 at 100,000 tickets): created, assigned (with the
  assignee), acknowledged, public replies, waits for the requester, reopenings, resolved,
  closed; and a transfer to another team on 6 % of the assigned tickets;
* the default SLA policies and each ticket's clock outcomes (business minutes to first
  response and to resolution, about one clock in ten breached, open tickets past their due
  time breached), first-response and resolution times, promised completion times;
* 2,000 articles written by the agents and leads (stackfaq threads and service-desk notes),
  and an article linked to 10 % of the closed tickets;
* survey answers on 30 % of the closed tickets (each agent has their own typical rating);
* intake sessions ("Get help", 1.2 per ticket) with one to four queries typed on the way to
  the final wording (ticket titles and stackfaq questions), ended deflected (30 %, by a
  popular article, 12 % of those later failed), in a ticket, abandoned, or still open;
* a stored vector for every ticket (``HashEmbedder``, ``hash-256``, what the app uses with
  ``EMBEDDING_MODEL=hash``; the real model would take hours for 100,000 tickets).

**Timed**, for a team lead, each on a fresh session, p50/p95 in ms: every kb figure of the
dashboards over 30 and 366 days (volume, backlog, indicators, SLA, satisfaction, self-service
with content gaps, recurring problems, agent performance, accountability, recognition) and
every page (``/insights/``, ``/service``, ``/self-service``, ``/problems``, ``/people``) and the
CSV exports through the Flask test client (queries, charts and template).

``--database-url`` copies the SQLite data into that PostgreSQL database (created if missing;
schema from the models' metadata, which tests/test_migrations.py keeps equal to the migrations;
COPY table by table, then VACUUM ANALYZE; the copy is kept and reused while the source did not
change) and times the same views there, the app configured with that URL.
``--try-index NAME:TABLE:COL,COL`` (repeatable) creates these indexes in each benchmark database,
times again, and drops them.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_timing import build, pct, timed  # noqa: E402

BATCH = 20_000
TRANSFER_SHARE = 0.06
SURVEY_SHARE = 0.30
ARTICLES = 2000
SESSIONS_PER_TICKET = 1.2
PAGES = ("", "service", "self-service", "problems", "people")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--database-url", help="also time on this PostgreSQL database (a copy of the SQLite data)")
    parser.add_argument("--skip-sqlite", action="store_true", help="time PostgreSQL only")
    parser.add_argument("--only", help="time only the views whose name contains this")
    parser.add_argument("--try-index", action="append", default=[], metavar="NAME:TABLE:COL,COL")
    args = parser.parse_args()
    path = ROOT / "bench" / "results" / f"queues-{args.tickets}" / "desk.db"
    meta_file = path.parent / "meta.json"
    meta = json.loads(meta_file.read_text()) if path.exists() and meta_file.exists() else build(path, args.tickets)
    now = datetime.fromisoformat(meta["now"])

    from sqlalchemy import create_engine

    migrate(f"sqlite:///{path}", path)  # a database cached by an older checkout gets the newer columns
    engine = create_engine(f"sqlite:///{path}")
    add_events(engine)
    add_extras(engine, now)
    targets = [] if args.skip_sqlite else [("SQLite", f"sqlite:///{path}", engine)]
    if args.database_url:
        copy_to_postgres(engine, args.database_url, path, meta)
        targets.append(("PostgreSQL", args.database_url, create_engine(args.database_url)))
        same_percentiles(engine, targets[-1][2], now)
    for label, url, eng in targets:
        print(f"\n== {label}: {describe(eng)}; p50 / p95 in ms over {args.reps} runs", flush=True)
        run_all(label, url, eng, path, now, args)
        if args.try_index:
            specs = [spec.split(":") for spec in args.try_index]
            with eng.begin() as conn:
                for name, table, cols in specs:
                    conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({cols})")
                    if eng.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"ANALYZE {table}")
            try:
                print(f"\n== {label} with " + ", ".join(f"{n} on {t} ({c})" for n, t, c in specs), flush=True)
                run_all(label + "-indexed", url, eng, path, now, args)
            finally:
                with eng.begin() as conn:
                    for name, _table, _cols in specs:
                        conn.exec_driver_sql(f"DROP INDEX {name}")


def same_percentiles(sqlite_engine, pg_engine, now: datetime) -> None:
    """The year's medians and 90th percentiles per agent and per priority, ranked in numpy on
    SQLite and by ``percentile_disc`` on PostgreSQL, must be the same numbers."""
    from sqlalchemy.orm import Session

    from kb import insight_sla, insights
    from kb.tickets import Ticket

    f = insights.Filters(since=now.date() - timedelta(days=365), until=now.date())
    with Session(sqlite_engine) as lite, Session(pg_engine) as pg:
        for by in (Ticket.assignee_id, Ticket.priority):
            a, b = (insight_sla.clock_percentiles(s, insights.scope(f), by) for s in (lite, pg))
            if a != b:
                raise SystemExit(f"percentiles by {by.key} differ between SQLite and PostgreSQL")
    print("percentiles: SQLite (numpy) and PostgreSQL (percentile_disc) give the same numbers", flush=True)


def run_all(label: str, url: str, engine, path: Path, now: datetime, args) -> None:
    from sqlalchemy import select

    from kb.teams import Team
    from kb.users import User

    with engine.connect() as conn:
        lead_id = conn.execute(select(Team.lead_id).order_by(Team.id).limit(1)).scalar()
        team_id = conn.execute(select(Team.id).order_by(Team.id).limit(1)).scalar()
        email = conn.execute(select(User.email).where(User.id == lead_id)).scalar()
    rows = []
    for name, fn in kb_views(lead_id, team_id, now):
        if args.only and args.only not in name:
            continue
        p50, p95 = timed(engine, args.reps, fn)
        rows.append((name, p50, p95))
        print(f"  {name:52s} {p50:8.1f} {p95:8.1f}", flush=True)
    for name, p50, p95 in pages(url, path, email, args.reps, now.date(), args.only):
        rows.append((name, p50, p95))
        print(f"  {name:52s} {p50:8.1f} {p95:8.1f}", flush=True)
    out = ROOT / "bench" / "results" / f"insights-{label.lower()}-{args.tickets}.json"
    out.write_text(json.dumps([{"view": n, "p50": a, "p95": b} for n, a, b in rows], indent=1))


def describe(engine) -> str:
    from sqlalchemy import func, select

    from kb.intake_models import IntakeQuery, IntakeSession
    from kb.ticket_events import TicketEvent
    from kb.ticket_records import SurveyResponse, TicketVector
    from kb.tickets import Ticket

    with engine.connect() as conn:
        n = {m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar()
             for m in (Ticket, TicketEvent, SurveyResponse, IntakeSession, IntakeQuery, TicketVector)}
    return (f"{n['ticket']:,} tickets, {n['ticket_event']:,} events, {n['survey_response']:,} survey answers, "
            f"{n['intake_session']:,} intake sessions ({n['intake_query']:,} queries), {n['ticket_vector']:,} vectors")


def kb_views(lead_id: int, team_id: int, now: datetime) -> list[tuple[str, object]]:
    """(name, fn(session)) for every kb figure of the dashboards, as a lead sees them."""
    from kb import (insight_figures, insight_people, insight_problems, insight_satisfaction, insight_self_service,
                    insight_sla, insights)
    from kb.users import User
    from search.embedders import HashEmbedder

    embedder = HashEmbedder()
    today = now.date()
    views = []

    def lead(s):
        return s.get(User, lead_id)
    for days in (30, 366):
        for by in insights.GROUPINGS:
            for team in (None, team_id):
                f = insights.Filters(since=today - timedelta(days=days - 1), until=today, team_id=team)
                views.append((f"volume {days} d by {by}{' (one team)' if team else ''}",
                              lambda s, f=f, by=by: insights.volume(s, lead(s), f, by=by)))
    f30 = insights.Filters(since=today - timedelta(days=29), until=today)
    views.append(("backlog", lambda s: insights.backlog(s, lead(s), f30, now=now)))
    for days in (30, 366):
        f = insights.Filters(since=today - timedelta(days=days - 1), until=today)
        views += [
            (f"indicators + triage quality {days} d", lambda s, f=f: insight_figures.period_figures(s, lead(s), f)),
            (f"sla_figures {days} d", lambda s, f=f: insight_sla.sla_figures(s, lead(s), f)),
            (f"satisfaction trend {days} d", lambda s, f=f: insight_satisfaction.trend(s, lead(s), f)),
            (f"satisfaction ratings by team {days} d",
             lambda s, f=f: insight_satisfaction.ratings(s, lead(s), f, by="team")),
            (f"satisfaction ratings by agent {days} d",
             lambda s, f=f: insight_satisfaction.ratings(s, lead(s), f, by="agent")),
            (f"self_service (counts, no gaps) {days} d",
             lambda s, f=f: insight_self_service.self_service(s, lead(s), f, now=now)),
            (f"self_service with content gaps {days} d",
             lambda s, f=f: insight_self_service.self_service(s, lead(s), f, embedder=embedder, now=now)),
            (f"recurring_problems {days} d",
             lambda s, f=f: insight_problems.recurring_problems(s, lead(s), f, embedder=embedder)),
            (f"agent_performance {days} d", lambda s, f=f: insight_people.agent_performance(s, lead(s), f)),
            (f"accountability {days} d", lambda s, f=f: insight_people.accountability(s, lead(s), f, now=now)),
            (f"recognition {days} d", lambda s, f=f: insight_people.recognition(s, lead(s), f)),
        ]
    return views


def _app(url: str, path: Path, **extra):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(path.parent),
                       "INDEX_PATH": str(path.parent / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                       "SECRET_KEY": "bench", **extra})


def migrate(url: str, path: Path) -> None:
    from flask_migrate import upgrade

    app = _app(url, path)
    with app.app_context():
        upgrade()
    app.extensions["helpdesk_search"].close()


# -- the data ------------------------------------------------------------------------------------
def add_events(engine, per_ticket: int = 10, seed: int = 5) -> None:
    """About ``per_ticket`` events per ticket (1,000,000 at 100,000 tickets), once: created,
    assigned, acknowledged, public replies, some waits for the requester and reopenings,
    resolved, closed, with their times; what the indicators read."""
    from sqlalchemy import func, insert, select, text

    from kb.ticket_events import RECOUNT_SQL, TicketEvent
    from kb.tickets import Ticket

    with engine.begin() as conn:
        if conn.execute(select(func.count(TicketEvent.id))).scalar():
            return
        rng = random.Random(seed)
        start = time.perf_counter()
        tickets = conn.execute(select(Ticket.id, Ticket.created_at, Ticket.status, Ticket.assignee_id,
                                      Ticket.team_id)).all()
        batch, total = [], 0
        for tid, created, status, assignee, team in tickets:
            assigned = json.dumps({"team_id": team, "assignee_id": assignee, "auto": True})
            kinds = [("created", None, "new", "{}"), ("assigned", None, None, assigned),
                     ("status", "new", "assigned", "{}"), ("acknowledged", None, None, "{}"),
                     ("status", "assigned", "acknowledged", "{}")]
            if rng.random() < 0.25:
                kinds.append(("status", "in_progress", "waiting_for_requester", "{}"))
            kinds += [("agent_public_reply", None, None, "{}")] * rng.choice((1, 1, 2, 3))
            if status in ("resolved", "closed"):
                kinds.append(("status", "in_progress", "resolved", "{}"))
                if rng.random() < 0.08:
                    kinds += [("status", "resolved", "reopened", "{}"), ("status", "reopened", "resolved", "{}")]
                if status == "closed":
                    kinds.append(("status", "resolved", "closed", "{}"))
            while len(kinds) < per_ticket:
                kinds.append(("note", None, None, "{}"))
            for n, (kind, old, new, data) in enumerate(kinds[:per_ticket + 2]):
                batch.append({"ticket_id": tid, "kind": kind, "from_status": old, "to_status": new, "data": data,
                              "created_at": created + timedelta(minutes=30 * n)})
            if len(batch) >= 50_000:
                conn.execute(insert(TicketEvent.__table__), batch)
                total += len(batch)
                batch = []
        if batch:
            conn.execute(insert(TicketEvent.__table__), batch)
            total += len(batch)
        conn.execute(text(RECOUNT_SQL))  # the tickets' event counters, as record_event keeps them
        print(f"added {total:,} events in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def add_extras(engine, now: datetime, seed: int = 13) -> None:
    """The rest of what the dashboards read (see the module docstring), each part once."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from kb.articles_models import Article
    from kb.intake_models import IntakeSession
    from kb.sla.models import seed_sla_defaults
    from kb.ticket_events import TicketEvent
    from kb.ticket_records import SurveyResponse, TicketVector
    from kb.tickets import Ticket

    with Session(engine) as session:
        if seed_sla_defaults(session):
            session.commit()
    parts = [("SLA clock outcomes", select(func.count()).where(Ticket.response_minutes.is_not(None)), _sla_outcomes),
             ("transfers", select(func.count()).where(TicketEvent.kind == "transferred"), _transfers),
             ("articles", select(func.count(Article.id)), _articles),
             ("survey answers", select(func.count(SurveyResponse.id)), _surveys),
             ("intake sessions", select(func.count(IntakeSession.id)), _intake),
             ("ticket vectors", select(func.count()).select_from(TicketVector), _vectors)]
    for i, (name, present, add) in enumerate(parts):
        with engine.begin() as conn:
            if conn.execute(present).scalar():
                continue
            start = time.perf_counter()
            n = add(conn, random.Random(seed + i), now)
            print(f"added {n:,} {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * rng.lognormvariate(0, sigma)


def _sla_outcomes(conn, rng: random.Random, now: datetime) -> int:
    """Business minutes per clock against the default targets: medians about 40 % of the
    target, so about one clock in ten misses it; open tickets past their due time breached."""
    from sqlalchemy import bindparam, select, update

    from kb.sla.models import DEFAULT_SET, SlaPolicy
    from kb.tickets import Ticket

    targets = {p: (r, s) for p, r, s in conn.execute(
        select(SlaPolicy.priority, SlaPolicy.first_response_minutes, SlaPolicy.resolution_minutes)
        .where(SlaPolicy.policy_set == DEFAULT_SET))}
    t = Ticket.__table__
    stmt = update(t).where(t.c.id == bindparam("tid")).values(
        {c: bindparam(c) for c in ("response_minutes", "response_breached_at", "resolution_minutes",
                                   "resolution_breached_at", "first_responded_at", "resolved_at",
                                   "expected_completion_at", "planned_actions")})
    rows = conn.execute(select(t.c.id, t.c.created_at, t.c.status, t.c.priority, t.c.breached_at,
                               t.c.closed_at)).all()
    batch = []
    for tid, created, status, priority, breached, closed in rows:
        response_target, resolution_target = targets[priority]
        r = dict.fromkeys(("response_minutes", "response_breached_at", "resolution_minutes",
                           "resolution_breached_at", "first_responded_at", "resolved_at", "expected_completion_at",
                           "planned_actions"))
        r["tid"] = tid
        if status not in ("new", "assigned"):
            r["response_minutes"] = round(_lognormal(rng, 0.4 * response_target, 0.7), 1)
            r["first_responded_at"] = created + timedelta(minutes=r["response_minutes"] * 1.5)
            if r["response_minutes"] > response_target:
                r["response_breached_at"] = created + timedelta(minutes=response_target * 1.5)
        elif created < now - timedelta(minutes=response_target * 1.5):
            r["response_breached_at"] = created + timedelta(minutes=response_target * 1.5)
        if status in ("resolved", "closed"):
            r["resolution_minutes"] = round(_lognormal(rng, 0.4 * resolution_target, 0.7), 1)
            r["resolved_at"] = min(closed or now, created + timedelta(minutes=r["resolution_minutes"] * 2))
            if r["resolution_minutes"] > resolution_target:
                r["resolution_breached_at"] = created + timedelta(minutes=resolution_target * 2)
        elif breached is not None and status not in ("cancelled", "merged"):
            r["resolution_breached_at"] = breached
        if status in ("acknowledged", "in_progress", "waiting_for_requester", "reopened"):
            r["expected_completion_at"] = created + timedelta(hours=rng.uniform(4, 120))
            r["planned_actions"] = "Check the logs, apply the fix, confirm with the requester."
        batch.append(r)
        if len(batch) >= BATCH:
            conn.execute(stmt, batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)
    return len(rows)


def _transfers(conn, rng: random.Random, now: datetime) -> int:
    """A transfer to the ticket's current team (and assignee) on a share of the assigned tickets."""
    from sqlalchemy import insert, select, text

    from kb.teams import Team, TeamMember
    from kb.ticket_events import RECOUNT_SQL, TicketEvent
    from kb.tickets import Ticket

    teams = [r[0] for r in conn.execute(select(Team.id))]
    members: dict[int, list[int]] = {}
    for team, user in conn.execute(select(TeamMember.team_id, TeamMember.user_id)):
        members.setdefault(team, []).append(user)
    rows = []
    for tid, created, team, assignee in conn.execute(
            select(Ticket.id, Ticket.created_at, Ticket.team_id, Ticket.assignee_id)
            .where(Ticket.assignee_id.is_not(None))):
        if rng.random() >= TRANSFER_SHARE:
            continue
        old_team = rng.choice([x for x in teams if x != team])
        rows.append({"ticket_id": tid, "kind": "transferred", "created_at": created + timedelta(minutes=45),
                     "data": json.dumps({"team_id": team, "assignee_id": assignee, "from_team_id": old_team,
                                         "from_assignee_id": rng.choice(members[old_team]),
                                         "reason": "Belongs to the owning team"})})
    for i in range(0, len(rows), BATCH):
        conn.execute(insert(TicketEvent.__table__), rows[i:i + BATCH])
    conn.execute(text(RECOUNT_SQL))
    return len(rows)


def _articles(conn, rng: random.Random, now: datetime) -> int:
    """Articles by the agents and leads; an article linked to a share of the closed tickets."""
    from sqlalchemy import insert, select

    from bench._data import articles
    from kb.articles_models import Article
    from kb.taxonomy import Category
    from kb.ticket_records import TicketArticleLink
    from kb.tickets import Ticket
    from kb.users import User

    authors = [r[0] for r in conn.execute(select(User.id).where(User.role.in_(("agent", "lead"))))]
    cats = [r[0] for r in conn.execute(select(Category.id).where(Category.parent_id.is_(None)))]
    rows = []
    for title, body in articles(ARTICLES):
        created = now - timedelta(days=rng.uniform(0, 760))
        status = rng.choices(("published", "draft", "in_review", "archived"), (85, 7, 3, 5))[0]
        rows.append({"title": title[:200], "body": body, "category_id": rng.choice(cats), "audience": "public",
                     "status": status, "lang": "en", "author_id": rng.choice(authors), "created_at": created,
                     "updated_at": created, "view_count": int(rng.expovariate(1 / 50)),
                     "published_at": created if status in ("published", "archived") else None,
                     "reviewed_at": created if status == "published" else None})
    conn.execute(insert(Article.__table__), rows)
    published = [r[0] for r in conn.execute(select(Article.id).where(Article.status == "published"))]
    links = [{"ticket_id": tid, "article_id": rng.choice(published), "linked_by_id": assignee,
              "created_at": closed or created}
             for tid, created, closed, assignee in conn.execute(
                 select(Ticket.id, Ticket.created_at, Ticket.closed_at, Ticket.assignee_id)
                 .where(Ticket.status == "closed")) if rng.random() < 0.10]
    for i in range(0, len(links), BATCH):
        conn.execute(insert(TicketArticleLink.__table__), links[i:i + BATCH])
    return len(rows)


def _surveys(conn, rng: random.Random, now: datetime) -> int:
    """Answers on a share of the closed tickets, a day or so after closing, each agent with
    their own typical rating."""
    from sqlalchemy import insert, select

    from kb.ticket_records import SurveyResponse
    from kb.tickets import Ticket

    base: dict[int | None, float] = {}
    rows = []
    for tid, requester, assignee, team, closed in conn.execute(
            select(Ticket.id, Ticket.requester_id, Ticket.assignee_id, Ticket.team_id, Ticket.closed_at)
            .where(Ticket.status == "closed", Ticket.closed_at.is_not(None))):
        if rng.random() >= SURVEY_SHARE:
            continue
        answered = closed + timedelta(hours=rng.expovariate(1 / 20))
        if answered > now:
            continue
        mean = base.setdefault(assignee, rng.uniform(3.2, 4.6))
        rating = [max(1, min(5, round(rng.gauss(mean, 0.9)))) for _ in range(3)]
        rows.append({"ticket_id": tid, "respondent_id": requester, "agent_id": assignee, "team_id": team,
                     "speed": rating[0], "effectiveness": rating[1], "communication": rating[2],
                     "comment": "" if rng.random() < 0.8 else "Thanks, that fixed it.", "created_at": answered})
    for i in range(0, len(rows), BATCH):
        conn.execute(insert(SurveyResponse.__table__), rows[i:i + BATCH])
    return len(rows)


def _intake(conn, rng: random.Random, now: datetime) -> int:
    """Get help sessions with the queries typed on the way, their outcomes and failed deflections."""
    from sqlalchemy import func, insert, select

    from bench._data import faq_queries, ticket_rows
    from kb.articles_models import Article
    from kb.intake_models import DeflectionFailure, IntakeQuery, IntakeSession
    from kb.tickets import Ticket
    from kb.users import User

    texts = [r["short_description"].strip() for r in ticket_rows() if r["short_description"].strip()]
    faqs = [q.strip() for q in faq_queries() if q.strip()]
    users = [r[0] for r in conn.execute(select(User.id).where(User.role == "requester"))]
    published = [r[0] for r in conn.execute(select(Article.id).where(Article.status == "published"))]
    popularity = [1 / (k + 1) for k in range(len(published))]
    n_tickets = conn.execute(select(func.count(Ticket.id))).scalar()
    max_ticket = conn.execute(select(func.max(Ticket.id))).scalar()
    n = int(n_tickets * SESSIONS_PER_TICKET)
    sessions, queries, failures = [], [], []
    qid = 0
    for sid in range(1, n + 1):
        started = now - timedelta(days=rng.uniform(0, 730))
        final = (rng.choice(texts) if rng.random() < 0.7 else rng.choice(faqs))[:300]
        if rng.random() < 0.5:
            final = final.lower()
        words = final.split()
        steps = min(len(words), rng.choice((1, 1, 2, 3, 4)))
        at = started
        for k in range(1, steps + 1):
            qid += 1
            part = " ".join(words[:max(1, -(-len(words) * k // steps))])
            queries.append({"id": qid, "session_id": sid, "seq": k, "text": part, "created_at": at})
            at += timedelta(seconds=rng.uniform(2, 40))
        last = at + timedelta(minutes=rng.uniform(0, 5))
        user = rng.choice(users) if rng.random() < 0.9 else None
        outcome = None if last > now - timedelta(minutes=30) else \
            rng.choices(("deflected", "ticket", "abandoned"), (30, 35, 35))[0]
        outcome_at = None if outcome is None else last + timedelta(minutes=30 if outcome == "abandoned" else 1)
        article = rng.choices(published, popularity)[0] if outcome == "deflected" else None
        sessions.append({"id": sid, "token": f"{rng.getrandbits(256):064x}", "user_id": user, "started_at": started,
                         "last_activity_at": last, "outcome": outcome, "outcome_at": outcome_at,
                         "deflected_article_id": article})
        if outcome == "deflected" and user is not None and rng.random() < 0.12:
            failed = min(now, outcome_at + timedelta(days=rng.uniform(0.1, 6)))
            failures.append({"session_id": sid, "ticket_id": rng.randint(1, max_ticket), "failed_at": failed,
                             "rule": rng.choice(("similar_text", "same_article")),
                             "similarity": round(rng.uniform(0.55, 0.85), 3)})
        if len(queries) >= BATCH:
            conn.execute(insert(IntakeSession.__table__), sessions)
            conn.execute(insert(IntakeQuery.__table__), queries)
            sessions, queries = [], []
    if sessions:
        conn.execute(insert(IntakeSession.__table__), sessions)
    if queries:
        conn.execute(insert(IntakeQuery.__table__), queries)
    for i in range(0, len(failures), BATCH):
        conn.execute(insert(DeflectionFailure.__table__), failures[i:i + BATCH])
    return n


def _vectors(conn, rng: random.Random, now: datetime) -> int:
    """Every ticket's vector as kb.ticket_similarity stores it (a text is encoded once)."""
    import numpy as np
    from sqlalchemy import insert, select

    from kb.ticket_records import TicketVector
    from kb.ticket_similarity import embedding_text
    from kb.tickets import Ticket
    from search.embedders import HashEmbedder

    embedder = HashEmbedder()
    cache: dict[str, bytes] = {}
    rows, total = [], 0
    for tid, title, description in conn.execute(select(Ticket.id, Ticket.title, Ticket.description)).all():
        text = embedding_text(title, description)
        if text not in cache:
            vec = np.asarray(embedder.encode([text]), dtype=np.float32).reshape(-1)
            norm = float(np.linalg.norm(vec))
            cache[text] = (vec / norm if norm > 0 else vec).astype(np.float32).tobytes()
        rows.append({"ticket_id": tid, "model": embedder.name, "vector": cache[text]})
        if len(rows) >= BATCH:
            conn.execute(insert(TicketVector.__table__), rows)
            total += len(rows)
            rows = []
    if rows:
        conn.execute(insert(TicketVector.__table__), rows)
        total += len(rows)
    return total


# -- PostgreSQL ----------------------------------------------------------------------------------
def copy_to_postgres(sqlite_engine, url: str, path: Path, meta: dict) -> None:
    """The SQLite data into ``url`` (created if missing), unless the copy there is current. An
    existing database that this did not create is refused, never written."""
    from sqlalchemy import create_engine, func, inspect, select, text
    from sqlalchemy.engine import make_url

    import kb.models  # noqa: F401 - every table in the metadata
    from kb.db import Base

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        created = not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                   {"n": target.database}).scalar()
        if created:
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()
    tables = Base.metadata.sorted_tables
    with sqlite_engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables}
    indexes = sorted(ix.name for t in tables for ix in t.indexes)  # a new index in the models: copy again
    fingerprint = json.dumps({"now": meta["now"], "counts": counts, "indexes": indexes}, sort_keys=True)
    pg = create_engine(url)
    if not created and "bench_source" not in inspect(pg).get_table_names():  # never touch a database this did not make
        pg.dispose()
        raise SystemExit(f"database {target.database!r} exists and is not a benchmark copy: name a new one")
    with pg.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_source (fingerprint text)")
        if conn.exec_driver_sql("SELECT fingerprint FROM bench_source").scalar() == fingerprint:
            pg.dispose()
            print("PostgreSQL copy is current", file=sys.stderr)
            return
    start = time.perf_counter()
    Base.metadata.drop_all(pg)
    Base.metadata.create_all(pg)
    raw_pg = pg.raw_connection()
    raw_lite = sqlite_engine.raw_connection()
    try:
        cur = raw_pg.cursor()
        cur.execute("SET session_replication_role = replica")  # no FK triggers while copying
        for table in tables:
            cols = [c.name for c in table.columns]
            quoted = ", ".join(f'"{c}"' for c in cols)
            src = raw_lite.cursor()
            src.execute(f'SELECT {quoted} FROM "{table.name}"')
            with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                while chunk := src.fetchmany(10_000):
                    for row in chunk:
                        copy.write_row(row)
            src.close()
            pk = list(table.primary_key.columns)
            if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and str(pk[0].type) == "INTEGER":
                cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{pk[0].name}'), "
                            f"coalesce(max(\"{pk[0].name}\"), 0) + 1, false) FROM \"{table.name}\"")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_source (fingerprint text)")
        cur.execute("DELETE FROM bench_source")
        cur.execute("INSERT INTO bench_source VALUES (%s)", (fingerprint,))
        raw_pg.commit()
    finally:
        raw_pg.close()
        raw_lite.close()
    with pg.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    pg.dispose()
    print(f"copied {sum(counts.values()):,} rows of {len(tables)} tables to PostgreSQL in "
          f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


# -- pages ---------------------------------------------------------------------------------------
def pages(url: str, path: Path, email: str, reps: int, today: date, only: str | None = None):
    """Every insights page and CSV export through the Flask test client, logged in as the lead."""
    from portal.insights import EXPORTS

    app = _app(url, path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    targets = []
    for days in (30, 366):
        q = f"?since={(today - timedelta(days=days - 1)).isoformat()}&until={today.isoformat()}"
        targets += [(f"GET /insights/{p} {days} d", f"/insights/{p}{q}") for p in PAGES]
        if days == 366:
            targets.append(("GET /insights/ 366 d by priority", f"/insights/{q}&by=priority"))
            targets += [(f"GET /insights/{name}.csv 366 d", f"/insights/{name}.csv{q}") for name in EXPORTS]
    try:
        with app.test_client() as client:
            login = client.post("/login", data={"email": email, "password": "bench-password-not-used"})
            assert login.status_code == 302 and "/login" not in login.location, login.location
            for name, target in targets:
                if only and only not in name:
                    continue
                samples = []
                for _ in range(reps + 2):
                    start = time.perf_counter()
                    resp = client.get(target)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert resp.status_code == 200, (target, resp.status_code)
                samples = sorted(samples[2:])
                yield name, samples[len(samples) // 2], pct(samples, 95)
    finally:
        app.extensions["helpdesk_search"].close()


if __name__ == "__main__":
    main()

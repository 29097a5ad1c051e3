"""Agent desk queue timings at 100,000 tickets (issue 3 target: every desk page's queries
well under 100 ms p95).

    .venv/bin/python -m bench.queue_timing                 # or: make bench
    .venv/bin/python -m bench.queue_timing --try-index ix_try:status,breached_at

Builds once (cached in bench/results/queues-N/) a SQLite database through the real
migrations, then bulk-inserts N tickets with a help desk's shape: about 15 % open, six teams,
twenty agents, three priorities, due times spread around "now", some breached, a few
restricted complaints. Then times, for an agent and a team lead, ``queue_counts`` and
``list_queue`` page 1 and a deep page (40, or the last one) of every queue, each on a fresh
session, and prints p50/p95 in ms and SQLite's EXPLAIN QUERY PLAN of the queries a page runs.
``--try-index`` creates candidate indexes in the benchmark database, times again and drops them.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sqlalchemy import create_engine, event, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench._data import ticket_rows  # noqa: E402

TEAMS = ["Service desk", "Network", "Identity and access", "Workplace", "Business applications", "Infrastructure"]
OPEN_MIX = {"new": 10, "assigned": 20, "acknowledged": 15, "in_progress": 35, "waiting_for_requester": 15,
            "reopened": 5}
CLOSED_MIX = {"closed": 80, "resolved": 6, "cancelled": 9, "merged": 5}
PRIORITY_MIX = {"high": 15, "medium": 50, "low": 35}
CHANNEL_MIX = {"portal": 70, "email": 15, "phone": 10, "chat": 5}
CHUNK = 5000


def pick(rng: random.Random, mix: dict) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _users(session, rng):
    from werkzeug.security import generate_password_hash

    from kb.users import User

    pw = generate_password_hash("bench-password-not-used")
    rows = ([{"email": f"requester{i}@bench.test", "name": f"Requester {i}", "role": "requester"} for i in range(3000)]
            + [{"email": f"agent{i}@bench.test", "name": f"Agent {i}", "role": "agent"} for i in range(20)]
            + [{"email": f"lead{i}@bench.test", "name": f"Lead {i}", "role": "lead"} for i in range(len(TEAMS))]
            + [{"email": "admin@bench.test", "name": "Admin", "role": "admin"}])
    session.execute(insert(User.__table__), [dict(r, password_hash=pw, active=True) for r in rows])
    ids = {role: list(session.scalars(select(User.id).where(User.role == role).order_by(User.id)))
           for role in ("requester", "agent", "lead")}
    return ids


def seed_people(session, rng):
    """Taxonomy, users and teams, committed: (ids, members, owner, subs, lead_of)."""
    from kb.taxonomy import seed_taxonomy

    seed_taxonomy(session)
    ids = _users(session, rng)
    members, owner, subs = _teams(session, rng, ids)
    lead_of = {team_id: ids["lead"][i] for i, team_id in enumerate(members)}
    session.commit()
    return ids, members, owner, subs, lead_of


def _teams(session, rng, ids):
    """Six teams, each with a lead and three or four agents (two agents sit in two teams);
    every top category is owned by one team."""
    from kb.taxonomy import Category
    from kb.teams import AgentProfile, Team, TeamCategory, TeamMember

    members: dict[int, list[int]] = {}
    for i, name in enumerate(TEAMS):
        team = Team(name=name, lead_id=ids["lead"][i])
        session.add(team)
        session.flush()
        members[team.id] = []
    team_ids = list(members)
    for i, agent in enumerate(ids["agent"]):
        members[team_ids[i % len(team_ids)]].append(agent)
    for agent in ids["agent"][:2]:
        members[team_ids[-1]].append(agent)
    for team_id, agents in members.items():
        session.add_all(TeamMember(team_id=team_id, user_id=a) for a in agents)
    session.add_all(AgentProfile(user_id=a, capacity=rng.choice([8, 10, 12])) for a in ids["agent"])
    tops = list(session.scalars(select(Category).where(Category.parent_id.is_(None)).order_by(Category.id)))
    subs = {c.id: [s.id for s in c.children] for c in tops}
    owner = {}
    for i, cat in enumerate(tops):
        owner[cat.id] = team_ids[i % len(team_ids)]
        session.add(TeamCategory(category_id=cat.id, team_id=owner[cat.id]))
    session.flush()
    return members, owner, subs


def _ticket(rng, now, titles, ids, members, owner, subs, lead_of):
    is_open = rng.random() < 0.15
    status = pick(rng, OPEN_MIX if is_open else CLOSED_MIX)
    age = timedelta(days=rng.expovariate(1 / 5)) if is_open else timedelta(days=rng.uniform(0, 730))
    created = now - min(age, timedelta(days=60) if is_open else age)
    cat = rng.choice(list(owner))
    team = owner[cat]
    restricted = rng.random() < 0.005
    assignee = None
    if status != "new":
        assignee = lead_of[team] if restricted else rng.choice(members[team])
    title, description = rng.choice(titles)
    due = breached = None
    if is_open and status != "waiting_for_requester":
        due = now + timedelta(hours=rng.expovariate(1 / 40)) if rng.random() > 0.1 else \
            now - timedelta(hours=rng.uniform(0, 120))
        breached = due if due < now and rng.random() < 0.95 else None
    elif rng.random() < 0.08:  # closed or paused, breached on the way
        breached = created + timedelta(hours=rng.uniform(1, 72))
    return {"title": title, "description": description, "requester_id": rng.choice(ids["requester"]),
            "status": status, "created_at": created,
            "updated_at": min(now, created + timedelta(hours=rng.expovariate(1 / 30))),
            "channel": pick(rng, CHANNEL_MIX), "category_id": cat, "subcategory_id": rng.choice(subs[cat] or [None]),
            "priority": pick(rng, PRIORITY_MIX), "priority_reason": "", "restricted": restricted,
            "team_id": team, "assignee_id": assignee, "response_due_at": due, "resolution_due_at": due,
            "next_due_at": due, "breached_at": breached,
            "closed_at": created + timedelta(days=3) if status == "closed" else None}


def build(path: Path, n: int, seed: int = 11) -> dict:
    """The database through the real migrations, then N tickets in bulk (cached)."""
    from flask_migrate import upgrade

    from kb.tickets import Ticket
    from portal import create_app
    from portal.extensions import db

    path.parent.mkdir(parents=True, exist_ok=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "INSTANCE_PATH": str(path.parent),
                      "INDEX_PATH": str(path.parent / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                      "SECRET_KEY": "bench"})
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    titles = [((r["short_description"] or "No subject").strip()[:200] or "No subject",
               (r["description"] or "-").strip()[:600] or "-") for r in ticket_rows()]
    with app.app_context():
        upgrade()
        session = db.session
        ids, members, owner, subs, lead_of = seed_people(session, rng)
        start = time.perf_counter()
        for done in range(0, n, CHUNK):
            rows = [_ticket(rng, now, titles, ids, members, owner, subs, lead_of)
                    for _ in range(min(CHUNK, n - done))]
            session.execute(insert(Ticket.__table__), rows)
            session.commit()
            print(f"\rinserted {done + len(rows):,}/{n:,} tickets", end="", file=sys.stderr, flush=True)
        print(f" in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        app.extensions["helpdesk_search"].close()
        db.engine.dispose()
    meta = {"tickets": n, "now": now.isoformat(), "seed": seed}
    (path.parent / "meta.json").write_text(json.dumps(meta))
    return meta


def check_indexes(engine) -> list[str]:
    """The ticket indexes in the migrated database must be the ones the model declares."""
    from kb.tickets import Ticket

    with engine.connect() as conn:
        actual = {row[1] for row in conn.exec_driver_sql("PRAGMA index_list('ticket')") if row[3] == "c"}
    declared = {ix.name for ix in Ticket.__table__.indexes}
    if actual != declared:
        raise SystemExit(f"ticket indexes differ from the model: migration {sorted(actual)}, "
                         f"model {sorted(declared)}")
    return sorted(actual)


@contextmanager
def captured(engine):
    """The SQL statements (with parameters) a block runs, to EXPLAIN them afterwards."""
    seen: list[tuple[str, tuple]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def explain(engine, statement: str, parameters) -> list[str]:
    with engine.connect() as conn:
        return [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(engine, reps: int, fn) -> tuple[float, float]:
    samples = []
    for _ in range(reps + 2):
        with Session(engine) as session:
            start = time.perf_counter()
            fn(session)
            samples.append((time.perf_counter() - start) * 1000)
    samples = samples[2:]  # warm-up
    return statistics.median(samples), pct(samples, 95)


def measure(engine, now: datetime, reps: int, show_plans: bool) -> list[dict]:
    """Per actor and queue: page 1, a deep page, and the whole desk request (all tab counts,
    then page 1 reusing the queue's count, as portal/desk.py does)."""
    from kb import queues
    from kb.teams import Team
    from kb.users import User

    with Session(engine, expire_on_commit=False) as session:
        lead_id = session.scalar(select(Team.lead_id).order_by(Team.id))
        agent_id = session.scalar(select(User.id).where(User.role == "agent").order_by(User.id))
        actors = {"agent": session.get(User, agent_id), "lead": session.get(User, lead_id)}
        session.expunge_all()
    rows = []
    for label, actor in actors.items():
        with Session(engine) as s:
            counts = queues.queue_counts(s, actor, now)
        rows.append({"actor": label, "queue": "(tab counts)", "rows": sum(counts.values()),
                     "first": timed(engine, reps, lambda s: queues.queue_counts(s, actor, now))})
        for name in queues.available_queues(actor):
            last = max(1, -(-counts[name] // 25))
            deep = min(40, last)

            def run(s, name=name, page=1):
                return queues.list_queue(s, actor, name, page=page, now=now)

            def desk(s, name=name):
                c = queues.queue_counts(s, actor, now)
                return queues.list_queue(s, actor, name, page=1, now=now, total=c[name])
            rows.append({"actor": label, "queue": name, "rows": counts[name], "first": timed(engine, reps, run),
                         "deep_page": f"{deep}/{last}", "deep": timed(engine, reps, lambda s: run(s, page=deep)),
                         "desk": timed(engine, reps, desk)})
            if show_plans:
                with captured(engine) as seen, Session(engine) as s:
                    run(s)
                print(f"\n-- {label} / {name}")
                for statement, params in seen[1:3]:  # [0] is my_team_ids; then COUNT and the page
                    kind = "count" if "count(*)" in statement else "page "
                    for line in explain(engine, statement, params):
                        print(f"   {kind} {line}")
    return rows


def report(rows: list[dict], title: str) -> None:
    def ms(pair):
        return f"{pair[0]:.1f} / {pair[1]:.1f}" if pair else "–"
    print(f"\n{title} (ms, p50 / p95)\n| actor | queue | tickets in queue | page 1 | deep page | page | "
          f"desk request (counts + page 1) |\n| --- | --- | ---: | ---: | :---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['actor']} | {r['queue']} | {r['rows']:,} | {ms(r['first'])} | {r.get('deep_page', '')} | "
              f"{ms(r.get('deep'))} | {ms(r.get('desk'))} |")


def measure_http(path: Path, now: datetime, reps: int) -> list[dict]:
    """Whole desk requests through Flask (login, every query, template), with the desk's
    clock pinned to the build time so the queues look as they did when the data was made."""
    import portal.desk
    from kb import queues
    from portal import create_app

    portal.desk.utcnow = lambda: now
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "INSTANCE_PATH": str(path.parent),
                      "INDEX_PATH": str(path.parent / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                      "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    rows = []
    for label, email in (("agent", "agent0@bench.test"), ("lead", "lead0@bench.test")):
        client = app.test_client()
        resp = client.post("/login", data={"email": email, "password": "bench-password-not-used"})
        assert resp.status_code == 302, resp.status_code
        names = [*queues.QUEUES, "workload"] if label == "lead" else list(queues.QUEUES[:-1])
        for name in names:
            samples = []
            for i in range(reps + 2):
                start = time.perf_counter()
                resp = client.get(f"/desk/{name}")
                samples.append((time.perf_counter() - start) * 1000)
                assert resp.status_code == 200, (name, resp.status_code)
            samples = samples[2:]
            rows.append({"actor": label, "queue": name, "p50": statistics.median(samples), "p95": pct(samples, 95)})
    app.extensions["helpdesk_search"].close()
    return rows


def report_http(rows: list[dict], title: str) -> None:
    print(f"\n{title}: whole desk requests through Flask (ms)\n"
          "| actor | GET | p50 | p95 |\n| --- | --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['actor']} | /desk/{r['queue']} | {r['p50']:.1f} | {r['p95']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--no-plans", action="store_true")
    ap.add_argument("--try-index", action="append", default=[], metavar="NAME:COL,COL",
                    help="create this index in the benchmark database, time again, drop it")
    args = ap.parse_args()
    from kb.db import configure_sqlite

    path = ROOT / "bench" / "results" / f"queues-{args.tickets}" / "desk.db"
    if args.rebuild and path.exists():
        for f in path.parent.glob("desk.db*"):
            f.unlink()
    meta = build(path, args.tickets) if not path.exists() else json.loads((path.parent / "meta.json").read_text())
    now = datetime.fromisoformat(meta["now"])
    engine = create_engine(f"sqlite:///{path}")
    configure_sqlite(engine)
    print(f"{args.tickets:,} tickets, now = {meta['now']}, ticket indexes: {', '.join(check_indexes(engine))}")
    with engine.connect() as conn:
        open_n = conn.exec_driver_sql("SELECT count(*) FROM ticket WHERE status IN ('new','assigned',"
                                      "'acknowledged','in_progress','waiting_for_requester','reopened')").scalar()
    print(f"open tickets: {open_n:,}; {args.reps} repetitions each, fresh session per run")
    report(measure(engine, now, args.reps, not args.no_plans), "Schema as migrated")
    report_http(measure_http(path, now, args.reps), "Schema as migrated")
    for spec in args.try_index:
        name, cols = spec.split(":")
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE INDEX {name} ON ticket ({cols})")
        try:
            report(measure(engine, now, args.reps, not args.no_plans), f"With {name} ({cols})")
            report_http(measure_http(path, now, args.reps), f"With {name} ({cols})")
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP INDEX {name}")
    engine.dispose()


if __name__ == "__main__":
    main()

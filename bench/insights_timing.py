"""Insights dashboard timings at 100,000 tickets (issue 6 target: every dashboard view under 1 s).

    .venv/bin/python -m bench.insights_timing                  # or: make bench
    .venv/bin/python -m bench.insights_timing --tickets 20000  # smaller, faster

Uses the same cached SQLite database as ``bench.queue_timing`` (bench/results/queues-N/,
built once through the real migrations: tickets spread over two years, six teams, realistic
titles from ../shared/datasets/itsm-tickets). Times, for a team lead, ``kb.insights.volume``
(30 days daily and 366 days weekly, by category, channel and priority, with and without a
team filter), ``kb.insights.backlog`` and ``kb.insight_figures.period_figures`` (indicators and triage quality) (which read the events:
about ten per ticket are added once, 1,000,000 at 100,000 tickets), each on a fresh session, and the whole dashboard
page through the Flask test client (queries, SVG geometry and template), p50/p95 in ms.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_timing import build, pct, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    path = ROOT / "bench" / "results" / f"queues-{args.tickets}" / "desk.db"
    meta_file = path.parent / "meta.json"
    meta = json.loads(meta_file.read_text()) if path.exists() and meta_file.exists() else build(path, args.tickets)
    now = datetime.fromisoformat(meta["now"])

    from sqlalchemy import create_engine, select

    from kb import insight_figures, insights
    from kb.teams import Team
    from kb.users import User

    migrate(path)  # a database cached by an older checkout gets the newer columns
    engine = create_engine(f"sqlite:///{path}")
    add_events(engine)
    with engine.connect() as conn:
        lead_id = conn.execute(select(User.id).where(User.role == "lead").limit(1)).scalar()
        team_id = conn.execute(select(Team.id).limit(1)).scalar()
    today = now.date()
    views = []
    for days in (30, 366):
        for by in insights.GROUPINGS:
            for team in (None, team_id):
                f = insights.Filters(since=today - timedelta(days=days - 1), until=today, team_id=team)
                views.append((f"volume {days} d by {by}{' (one team)' if team else ''}",
                              lambda s, f=f, by=by: insights.volume(s, s.get(User, lead_id), f, by=by)))
    f = insights.Filters(since=today - timedelta(days=29), until=today)
    views.append(("backlog", lambda s: insights.backlog(s, s.get(User, lead_id), f, now=now)))
    for days in (30, 366):
        f_ind = insights.Filters(since=today - timedelta(days=days - 1), until=today)
        views.append((f"indicators + triage quality {days} d",
                      lambda s, f=f_ind: insight_figures.period_figures(s, s.get(User, lead_id), f)))
    with engine.connect() as conn:
        from sqlalchemy import func

        from kb.ticket_events import TicketEvent
        events = conn.execute(select(func.count(TicketEvent.id))).scalar()
    print(f"{meta['tickets']:,} tickets, {events:,} events; p50 / p95 in ms over {args.reps} runs")
    for name, fn in views:
        p50, p95 = timed(engine, args.reps, fn)
        print(f"  {name:36s} {p50:7.1f} {p95:7.1f}")
    page(path, lead_id, args.reps, today)


def _app(path: Path, **extra):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "INSTANCE_PATH": str(path.parent),
                       "INDEX_PATH": str(path.parent / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                       "SECRET_KEY": "bench", **extra})


def migrate(path: Path) -> None:
    from flask_migrate import upgrade

    with _app(path).app_context():
        upgrade()


def add_events(engine, per_ticket: int = 10, seed: int = 5) -> None:
    """About ``per_ticket`` events per ticket (1,000,000 at 100,000 tickets), once: created,
    assigned, acknowledged, public replies, some waits for the requester and reopenings,
    resolved, closed, with their times; what the indicators read."""
    import random
    import time

    from sqlalchemy import func, insert, select, text

    from kb.ticket_events import RECOUNT_SQL, TicketEvent
    from kb.tickets import Ticket

    with engine.begin() as conn:
        if conn.execute(select(func.count(TicketEvent.id))).scalar():
            return
        rng = random.Random(seed)
        start = time.perf_counter()
        tickets = conn.execute(select(Ticket.id, Ticket.created_at, Ticket.status)).all()
        batch, total = [], 0
        for tid, created, status in tickets:
            kinds = [("created", None, "new"), ("assigned", None, None), ("status", "new", "assigned"),
                     ("acknowledged", None, None), ("status", "assigned", "acknowledged")]
            if rng.random() < 0.25:
                kinds.append(("status", "in_progress", "waiting_for_requester"))
            kinds += [("agent_public_reply", None, None)] * rng.choice((1, 1, 2, 3))
            if status in ("resolved", "closed"):
                kinds.append(("status", "in_progress", "resolved"))
                if rng.random() < 0.08:
                    kinds += [("status", "resolved", "reopened"), ("status", "reopened", "resolved")]
                if status == "closed":
                    kinds.append(("status", "resolved", "closed"))
            while len(kinds) < per_ticket:
                kinds.append(("note", None, None))
            for n, (kind, old, new) in enumerate(kinds[:per_ticket + 2]):
                batch.append({"ticket_id": tid, "kind": kind, "from_status": old, "to_status": new, "data": "{}",
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


def page(path: Path, lead_id: int, reps: int, today: date) -> None:
    """The whole page: log in as the lead (the bench users' password) and time GET /insights/."""
    import time

    app = _app(path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    with app.app_context():
        from kb.users import User
        from portal.extensions import db

        email = db.session.get(User, lead_id).email
        for query in (f"?since={(today - timedelta(days=29)).isoformat()}",
                      f"?since={(today - timedelta(days=365)).isoformat()}&by=priority"):
            samples = []
            with app.test_client() as client:
                login = client.post("/login", data={"email": email, "password": "bench-password-not-used"})
                assert login.status_code == 302 and "/login" not in login.location, login.location
                for _ in range(reps + 2):
                    start = time.perf_counter()
                    resp = client.get("/insights/" + query)
                    samples.append((time.perf_counter() - start) * 1000)
                    assert resp.status_code == 200, resp.status_code
            samples = sorted(samples[2:])
            print(f"  GET /insights/{query:28s} {samples[len(samples) // 2]:7.1f} {pct(samples, 95):7.1f}")


if __name__ == "__main__":
    main()

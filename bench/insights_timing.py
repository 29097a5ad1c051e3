"""Insights dashboard timings at 100,000 tickets (issue 6 target: every dashboard view under 1 s).

    .venv/bin/python -m bench.insights_timing                  # or: make bench
    .venv/bin/python -m bench.insights_timing --tickets 20000  # smaller, faster

Uses the same cached SQLite database as ``bench.queue_timing`` (bench/results/queues-N/,
built once through the real migrations: tickets spread over two years, six teams, realistic
titles from ../shared/datasets/itsm-tickets). Times, for a team lead, ``kb.insights.volume``
(30 days daily and 366 days weekly, by category, channel and priority, with and without a
team filter) and ``kb.insights.backlog``, each on a fresh session, and the whole dashboard
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

    from kb import insights
    from kb.teams import Team
    from kb.users import User

    engine = create_engine(f"sqlite:///{path}")
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
    print(f"{meta['tickets']:,} tickets; p50 / p95 in ms over {args.reps} runs")
    for name, fn in views:
        p50, p95 = timed(engine, args.reps, fn)
        print(f"  {name:36s} {p50:7.1f} {p95:7.1f}")
    page(path, lead_id, args.reps, today)


def page(path: Path, lead_id: int, reps: int, today: date) -> None:
    """The whole page: log in as the lead (the bench users' password) and time GET /insights/."""
    import time

    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "INSTANCE_PATH": str(path.parent),
                      "INDEX_PATH": str(path.parent / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                      "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
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

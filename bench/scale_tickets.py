"""bench/scale.py's ticket half: 1,000,000 tickets with stored vectors bulk-loaded into the
app's PostgreSQL schema, and the ticket-side queries of the intake path timed against them."""
from __future__ import annotations

import random
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench._data import ticket_rows
from bench.scale_pool import RESULTS, log, pooled, summary

def start_pg(folder: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(str(folder), cleanup_mode="stop")
    name = "scale"
    server.psql(f'CREATE DATABASE "{name}"')
    # The HNSW graph of 100k+ chunks does not fit pgvector's default 64 MB: the build then
    # degrades badly. A deployment sets this too (docs: see the report).
    server.psql(f"ALTER DATABASE \"{name}\" SET maintenance_work_mem = '1GB'")
    host = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    settings = {}
    for k in ("server_version", "shared_buffers", "work_mem"):
        try:
            settings[k] = [ln.strip() for ln in server.psql(f"SHOW {k}").splitlines() if ln.strip()][2]
        except Exception:  # noqa: BLE001 - informative only
            settings[k] = "?"
    return server, f"host={host} user=postgres dbname={name}", \
        f"postgresql+psycopg://postgres@/{name}?host={host}", settings


def make_app(url: str, folder: Path):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(folder),
                       "INDEX_PATH": str(folder / "index"), "EMBEDDING_MODEL": "hash", "WORKER": "off",
                       "SECRET_KEY": "bench-scale"})


def load_tickets(app, n: int, real, pool_size: int, seed: int = 11) -> dict:
    """n tickets (queue_timing's shape) by bulk Core inserts with explicit ids, and one stored
    vector per ticket by COPY (a real ticket text's vector plus noise)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from bench.queue_timing import _ticket, seed_people
    from kb.ticket_similarity import embedding_text
    from kb.tickets import Ticket
    from portal.extensions import db

    rng = random.Random(seed)
    rows = [r for r in ticket_rows() if (r["description"] or "").strip()]
    random.Random(seed).shuffle(rows)
    titles = list(dict.fromkeys(((r["short_description"] or "No subject").strip()[:200] or "No subject",
                                 r["description"].strip()[:600]) for r in rows))[:pool_size]
    matrix = pooled(RESULTS / "scale-ticket-pool", [embedding_text(t, d) for t, d in titles], real)
    index_of = {td: i for i, td in enumerate(titles)}
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    out = {}
    with app.app_context():
        t0 = time.perf_counter()
        upgrade()
        out["migrations_s"] = round(time.perf_counter() - t0, 1)
        session = db.session
        ids, members, owner, subs, lead_of = seed_people(session, rng)
        raw = db.engine.raw_connection()
        pg = raw.driver_connection
        nrng = np.random.default_rng(seed)
        insert_s = vector_s = gen_s = 0.0
        chunk = 20_000
        for start in range(0, n, chunk):
            g0 = time.perf_counter()
            batch = [_ticket(rng, now, titles, ids, members, owner, subs, lead_of)
                     for _ in range(min(chunk, n - start))]
            for k, row in enumerate(batch):
                row["id"] = start + k + 1
            pool_idx = np.fromiter((index_of[(r["title"], r["description"])] for r in batch), np.int64, len(batch))
            vecs = matrix[pool_idx] + nrng.standard_normal((len(batch), matrix.shape[1])).astype(np.float32) \
                * (0.3 / np.sqrt(matrix.shape[1]))
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            gen_s += time.perf_counter() - g0
            i0 = time.perf_counter()
            session.execute(insert(Ticket.__table__), batch)
            session.commit()
            insert_s += time.perf_counter() - i0
            v0 = time.perf_counter()
            with pg.cursor() as cur:
                with cur.copy("COPY ticket_vector (ticket_id, model, vector) FROM STDIN WITH (FORMAT BINARY)") as cp:
                    cp.set_types(["int4", "text", "bytea"])
                    for row, vec in zip(batch, vecs):
                        cp.write_row((row["id"], real.name, vec.tobytes()))
            pg.commit()
            vector_s += time.perf_counter() - v0
            log(f"  {start + len(batch):,}/{n:,} tickets (insert {insert_s:.0f} s, vectors {vector_s:.0f} s)")
        raw.close()
        session.execute(text("SELECT setval(pg_get_serial_sequence('ticket', 'id'), (SELECT max(id) FROM ticket))"))
        session.commit()
        a0 = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE ticket")
            conn.exec_driver_sql("VACUUM ANALYZE ticket_vector")
        out.update({"tickets": n, "generate_s": round(gen_s, 1), "insert_s": round(insert_s, 1),
                    "tickets_per_s": round(n / insert_s), "vector_copy_s": round(vector_s, 1),
                    "vacuum_analyze_s": round(time.perf_counter() - a0, 1),
                    "ticket_text_pool": len(titles), "now": now.isoformat()})
        counts = session.execute(text(
            "SELECT (SELECT count(*) FROM ticket), (SELECT count(*) FROM ticket_vector), "
            "(SELECT round(pg_total_relation_size('ticket') / 1048576.0)), "
            "(SELECT round(pg_total_relation_size('ticket_vector') / 1048576.0)), "
            "(SELECT count(*) FROM ticket WHERE created_at >= now() - interval '24 hours' "
            " AND status IN ('new','assigned','acknowledged','in_progress','waiting_for_requester','reopened'))"
        )).one()
        out.update({"ticket_rows": counts[0], "vector_rows": counts[1], "ticket_mb": counts[2],
                    "ticket_vector_mb": counts[3], "open_in_last_24h": counts[4]})
        db.session.remove()
    return out


def measure_tickets(app, real, texts: list[str], reps: int) -> dict:
    from sqlalchemy import select

    from kb import duplicates, ticket_similarity, triage_service
    from kb.tickets import Ticket
    from kb.users import User
    from portal.extensions import db

    out = {}
    with app.app_context():
        s = db.session
        requester = s.scalars(select(User).where(User.role == "requester").order_by(User.id.desc()).limit(1)).one()
        agent = s.scalars(select(User).where(User.role == "agent").order_by(User.id).limit(1)).one()
        agent_id, requester_id = agent.id, requester.id
        max_id = s.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
        db.session.remove()
        rng = random.Random(3)
        ticket_ids = [rng.randint(1, max_id) for _ in range(reps)]

        def timed(name, fn, items):
            ms = []
            for k, item in enumerate(items[:3] + items):  # 3 warm-ups
                t0 = time.perf_counter()
                fn(item)
                if k >= 3:
                    ms.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
                db.session.remove()
            out[name] = summary(ms)
            log(f"  {name}: {out[name]}")

        timed("find_reports (GET /api/reports)", lambda t: duplicates.find_reports(
            db.session, db.session.get(User, requester_id), t, real, hours=24), texts[:reps])
        timed("triage_service.suggest (new-ticket form)",
              lambda t: triage_service.suggest(db.session, t, real), texts[:reps])
        timed("similar_resolved (ticket page, agent)", lambda tid: ticket_similarity.similar_resolved(
            db.session, db.session.get(User, agent_id), db.session.get(Ticket, tid), real), ticket_ids)
        t0 = time.perf_counter()
        for t in texts[:50]:
            real.encode([t])
        out["encode_ms_mean"] = round((time.perf_counter() - t0) * 1000 / 50, 1)
    return out

"""Generations, manifest checks, crash-safe rebuilds and live switching."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from search import Document, HashEmbedder, IndexMismatchError, SearchEngine
from search.generations import FileLock

REPO = Path(__file__).resolve().parents[2]


def docs(prefix: str, n: int, start: int = 0) -> list[Document]:
    return [Document(f"{prefix}:{i}", f"{prefix} topic {i}", f"body text about {prefix} number {i}",
                     fields={"audience": "public"}, version="1") for i in range(start, start + n)]


def test_layout_and_manifest(tmp_path):
    eng = SearchEngine(tmp_path, HashEmbedder())
    live = (tmp_path / "CURRENT").read_text().strip()
    manifest = json.loads((tmp_path / live / "manifest.json").read_text())
    assert manifest["embedder"] == "hash-256" and manifest["dim"] == 256
    assert {"schema_version", "created"} <= manifest.keys()
    eng.close()


def test_manifest_mismatch_raises_with_reindex_hint(open_engine):
    open_engine(embedder=HashEmbedder(256)).index(docs("a", 3))
    with pytest.raises(IndexMismatchError, match="flask search reindex"):
        open_engine(embedder=HashEmbedder(128))
    # The reindex command opens with allow_mismatch and rebuilds.
    eng = open_engine(embedder=HashEmbedder(128), allow_mismatch=True)
    with pytest.raises(IndexMismatchError):
        eng.query("topic")
    rb = eng.begin_rebuild()
    rb.add(docs("b", 4))
    rb.commit()
    assert eng.count() == 4
    assert open_engine(embedder=HashEmbedder(128)).count() == 4


CRASHER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from search import Document
    def docs(lo, hi):
        return [Document(f"new:{{i}}", f"new topic {{i}}", f"fresh body {{i}}") for i in range(lo, hi)]
    eng = {engine}
    rb = eng.begin_rebuild(resume=True)
    rb.add(docs(0, 10))
    rb.flush("after-10")
    def failing():
        yield from docs(10, 15)
        raise RuntimeError("database connection lost")
    rb.add(failing())
""")


def test_crash_mid_rebuild_then_resume(open_engine, backend, tmp_path):
    live = open_engine()
    live.index(docs("old", 5))
    proc = subprocess.run([sys.executable, "-c", CRASHER.format(repo=str(REPO), engine=open_engine.code())],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "database connection lost" in proc.stderr
    # The live generation is untouched and still answers.
    assert live.count() == 5 and live.query("old topic", mode="keyword")
    rb = live.begin_rebuild(resume=True)
    assert rb.checkpoint == "after-10"
    rb.add(Document(f"new:{i}", f"new topic {i}", f"fresh body {i}") for i in range(10, 20))
    rb.flush("done")
    rb.commit()
    assert sorted(live.versions()) == sorted(f"new:{i}" for i in range(20))
    assert generations(backend, open_engine, tmp_path) == 1


def generations(backend, open_engine, tmp_path) -> int:
    """How many generations are stored (and check no rebuild is marked in progress)."""
    if backend == "local":
        assert not (tmp_path / "idx" / "STAGING").exists()
        return len([p for p in (tmp_path / "idx").iterdir() if p.name.startswith("gen-")])
    import psycopg

    dsn, prefix = open_engine.location("idx")
    with psycopg.connect(dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {prefix}_state WHERE key = 'staging'").fetchone()[0] == 0
        return conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s",
                            (f"{prefix}_doc_%",)).fetchone()[0]


def test_resume_false_discards_staging(open_engine, backend, tmp_path):
    eng = open_engine()
    with eng.begin_rebuild() as rb:
        rb.add(docs("x", 3))
        rb.flush("x3")
    fresh = eng.begin_rebuild(resume=False)
    assert fresh.checkpoint is None
    fresh.add(docs("y", 2))
    fresh.commit()
    assert sorted(eng.versions()) == ["y:0", "y:1"]
    assert generations(backend, open_engine, tmp_path) == 1


def test_second_concurrent_rebuild_refused_and_abort_keeps_live(open_engine, backend, tmp_path):
    eng = open_engine()
    eng.index(docs("live", 2))
    rb = eng.begin_rebuild()
    with pytest.raises(RuntimeError, match="in progress"):
        open_engine().begin_rebuild()  # another app server
    rb.add(docs("tmp", 3))
    rb.abort()
    assert eng.count() == 2 and generations(backend, open_engine, tmp_path) == 1


def test_generation_switch_while_reader_answers(open_engine):
    writer = open_engine()
    writer.index(docs("gen1", 20))
    reader = open_engine()  # stands for another process
    errors, answered, stop = [], [0], threading.Event()

    def read():
        while not stop.is_set():
            try:
                hits = reader.query("topic body", limit=5)
                assert hits, "reader got no answer"
                answered[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for gen in ("gen2", "gen3"):
        rb = writer.begin_rebuild()
        rb.add(docs(gen, 20))
        rb.flush("half")
        rb.add(docs(gen, 20, start=20))
        rb.commit()
        time.sleep(0.7)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert answered[0] > 10
    time.sleep(0.6)
    assert {h.id.split(":")[0] for h in reader.query("gen3 topic", limit=10)} == {"gen3"}
    assert reader.count() == 40


def test_write_lock_excludes_other_writers(tmp_path):
    eng = SearchEngine(tmp_path, HashEmbedder())
    held = FileLock(tmp_path / "write.lock")
    assert held.acquire()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (eng.index(docs("w", 2)), done.set()))
    worker.start()
    time.sleep(0.5)
    assert not done.is_set()  # blocked on the lock
    held.release()
    worker.join(10)
    assert done.is_set() and eng.count() == 2


def test_concurrent_writers_lose_nothing(open_engine):
    engines = [open_engine() for _ in range(2)]
    threads = [threading.Thread(target=lambda e=e, p=p: [e.index([d]) for d in docs(p, 15)])
               for e, p in zip(engines, ("p", "q"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.6)
    assert engines[0].count() == 30 and len(engines[1].versions()) == 30
    assert len(engines[0].query("topic", mode="keyword", limit=50)) == 30


def test_no_temp_files_left(tmp_path):
    eng = SearchEngine(tmp_path, HashEmbedder())
    eng.index(docs("t", 5))
    eng.delete(["t:1"])
    leftovers = [p for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []
    assert os.path.exists(tmp_path / (tmp_path / "CURRENT").read_text().strip() / "vectors" / "vectors.npz")


def test_postgresql_connections_dropped_by_the_server_are_replaced(open_engine, backend, make_docs):
    """After PostgreSQL drops every connection (a restart, a failover), the next queries and
    writes succeed: the pool checks a connection before handing it out."""
    if backend != "postgresql":
        pytest.skip("connections are the PostgreSQL backend's")
    import psycopg

    eng = open_engine()
    eng.index(make_docs())
    assert eng.query("printer jam")[0].id == "article:1"
    dsn, _prefix = open_engine.location("idx")
    with psycopg.connect(dsn, autocommit=True) as admin:
        dropped = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert dropped >= 1
    for _ in range(3):
        assert eng.query("printer jam")[0].id == "article:1"
    assert eng.index([Document("after", "After the restart", "written once the server is back")]) == 1
    assert eng.count() == len(make_docs()) + 1

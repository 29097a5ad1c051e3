"""Full rebuild of the PostgreSQL index into a staging generation while the live one serves.

The same contract as :class:`search.rebuild.Rebuild`: ``add`` embeds and writes (each batch one
transaction, so a crash loses at most the batch in flight), ``flush(checkpoint)`` records the
caller's checkpoint after everything added so far is committed, ``begin_rebuild(resume=True)``
after a crash reopens the staging generation at that checkpoint, and ``commit()`` builds the
HNSW index, then switches generations and drops the old tables in one transaction.

A session-level advisory lock, held on a connection of its own for the Rebuild's lifetime,
keeps two rebuilds (on any app server) from interleaving; PostgreSQL releases it if the
process dies.
"""
from __future__ import annotations

from typing import Iterable

import psycopg

from . import pg_store as store
from .pipeline import batched, embed_documents
from .types import Document, IndexMismatchError


class PgRebuild:
    def __init__(self, engine, names: store.Names, checkpoint: str | None, lock_conn):
        self._engine = engine
        self._names = names
        self._lock_conn = lock_conn
        self.checkpoint = checkpoint
        self._done = False

    @classmethod
    def begin(cls, engine, *, resume: bool = True) -> "PgRebuild":
        prefix, emb = engine.prefix, engine.embedder
        lock_conn = psycopg.connect(engine.dsn, autocommit=True)
        try:
            if not lock_conn.execute("SELECT pg_try_advisory_lock(%s)",
                                     (store.lock_key(prefix, "rebuild"),)).fetchone()[0]:
                raise RuntimeError(f"another rebuild of the {prefix}_* search tables is in progress")
            with engine.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (store.lock_key(prefix, "write"),))
                staging = store.read_state(cur, prefix, "staging")
                current = store.read_state(cur, prefix, "current") or {}
                if staging and resume and staging.get("generation") != current.get("generation"):
                    try:
                        store.check_current(staging, emb.name, emb.dim, f"{prefix} staging")
                        names = store.Names(prefix, int(staging["generation"]))
                        cur.execute(f"SELECT 1 FROM {names.doc} LIMIT 1")
                        return cls(engine, names, staging.get("checkpoint"), lock_conn)
                    except (IndexMismatchError, psycopg.errors.UndefinedTable):
                        conn.rollback()
                        cur.execute("SELECT pg_advisory_xact_lock(%s)", (store.lock_key(prefix, "write"),))
                if staging and staging.get("generation") != current.get("generation"):
                    store.drop_generation(cur, prefix, int(staging["generation"]))
                gen = store.next_generation(cur, prefix)
                names = store.create_generation(cur, prefix, gen, emb.dim, hnsw=False)
                store.write_state(cur, prefix, "staging", {**store.manifest(gen, emb.name, emb.dim),
                                                           "checkpoint": None})
                return cls(engine, names, None, lock_conn)
        except BaseException:
            lock_conn.close()
            raise

    @property
    def generation(self) -> str:
        return f"{self._engine.prefix}_{self._names.generation}"

    def add(self, docs: Iterable[Document]) -> int:
        """Embed and write documents into the staging generation; returns how many were added."""
        self._check_open()
        added = 0
        for batch in batched(docs, 256):
            entries = embed_documents(batch, self._engine.embedder, self._engine.config, self._known)
            self._engine.write_entries(entries, [], names=self._names)
            added += len(batch)
        return added

    def _known(self, doc_ids) -> dict:
        """Vectors to reuse: the live generation's (if it has this layout), then what this
        rebuild already wrote."""
        known = self._engine._known(doc_ids)
        known.update(self._engine._known(doc_ids, names=self._names))
        return known

    def flush(self, checkpoint: str) -> None:
        """Record ``checkpoint``: everything added before it is already committed."""
        self._check_open()
        with self._engine.connection() as conn, conn.cursor() as cur:
            state = store.read_state(cur, self._engine.prefix, "staging")
            store.write_state(cur, self._engine.prefix, "staging", {**state, "checkpoint": checkpoint})
        self.checkpoint = checkpoint

    def commit(self) -> None:
        """Build the vector index, then make this generation live and drop the previous one."""
        self._check_open()
        prefix, emb = self._engine.prefix, self._engine.embedder
        with self._engine.connection() as conn, conn.cursor() as cur:
            store.create_hnsw(cur, self._names)  # outside the switch: readers keep going meanwhile
            cur.execute(f"ANALYZE {self._names.doc}")
            cur.execute(f"ANALYZE {self._names.chunk}")
        with self._engine.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (store.lock_key(prefix, "write"),))
            old = store.read_state(cur, prefix, "current")
            store.write_state(cur, prefix, "current", store.manifest(self._names.generation, emb.name, emb.dim))
            store.write_state(cur, prefix, "staging", None)
            if old and int(old["generation"]) != self._names.generation:
                store.drop_generation(cur, prefix, int(old["generation"]))
        self._finish()
        self._engine._after_commit()

    def abort(self) -> None:
        """Throw the staging generation away; the live one is untouched."""
        if self._done:
            return
        prefix = self._engine.prefix
        with self._engine.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (store.lock_key(prefix, "write"),))
            staging = store.read_state(cur, prefix, "staging")
            if staging and int(staging["generation"]) == self._names.generation:
                store.write_state(cur, prefix, "staging", None)
            store.drop_generation(cur, prefix, self._names.generation)
        self._finish()

    def _finish(self) -> None:
        self._done = True
        self._lock_conn.close()  # releases the rebuild lock

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("this rebuild was already committed or aborted")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Leaving without commit keeps the staging data for a later resume.
        if not self._done:
            self._finish()

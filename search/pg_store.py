"""PostgreSQL layout of the search index (a state table and one table set per generation) and
the writes of one batch into a generation.

::

    search_state            key -> JSON: "current" {generation, embedder, dim, schema_version},
                            "staging" {generation, embedder, dim, checkpoint} during a rebuild
    search_doc_<n>          one row per document: version, facets (jsonb), tsvector (GIN)
    search_chunk_<n>        one row per chunk: passage, vector (pgvector, HNSW on the live one) and
                            the key of its embedded text (pipeline.chunk_key)
    search_term_<n>         document frequency of every lexeme (picks a query's rarest terms)

A rebuild fills generation n+1 while n serves; its commit switches "current" and drops n in
one transaction (DDL is transactional in PostgreSQL), so readers see one or the other. Writers
serialise on a transaction-scoped advisory lock; a rebuild holds a session-level one.
"""
from __future__ import annotations

import json
import re
import zlib

import numpy as np

from .pg_text import clean, segment
from .types import REINDEX_HINT, IndexMismatchError

PG_SCHEMA_VERSION = 2  # 2: search_chunk_<n>.key (reuse of unchanged chunks' vectors)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"table prefix must be a lowercase SQL identifier, got {prefix!r}")
    return prefix


def lock_key(prefix: str, what: str) -> int:
    """A stable 63-bit advisory lock key for (prefix, purpose)."""
    return zlib.crc32(f"{prefix}:{what}".encode()) | (1 << 40)


class Names:
    def __init__(self, prefix: str, generation: int):
        self.generation = generation
        self.doc = f"{prefix}_doc_{generation}"
        self.chunk = f"{prefix}_chunk_{generation}"
        self.term = f"{prefix}_term_{generation}"


def create_state(cur, prefix: str) -> None:
    cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {prefix}_state (key text PRIMARY KEY, value jsonb NOT NULL)")


def read_state(cur, prefix: str, key: str) -> dict | None:
    cur.execute(f"SELECT value FROM {prefix}_state WHERE key = %s", (key,))
    row = cur.fetchone()
    return row[0] if row else None


def write_state(cur, prefix: str, key: str, value: dict | None) -> None:
    if value is None:
        cur.execute(f"DELETE FROM {prefix}_state WHERE key = %s", (key,))
    else:
        cur.execute(f"INSERT INTO {prefix}_state (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))


def next_generation(cur, prefix: str) -> int:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE %s",
                (f"{prefix}_doc_%",))
    numbers = [int(m.group(1)) for (name,) in cur.fetchall()
               if (m := re.fullmatch(rf"{prefix}_doc_(\d+)", name))]
    for key in ("current", "staging"):
        state = read_state(cur, prefix, key)
        if state:
            numbers.append(int(state["generation"]))
    return max(numbers, default=0) + 1


def create_generation(cur, prefix: str, generation: int, dim: int, *, hnsw: bool) -> Names:
    n = Names(prefix, generation)
    cur.execute(f"""CREATE TABLE {n.doc} (
        id text PRIMARY KEY, version text NOT NULL, fields jsonb NOT NULL DEFAULT '{{}}',
        chunks int NOT NULL, tsv tsvector NOT NULL)""")
    cur.execute(f"CREATE INDEX {n.doc}_tsv ON {n.doc} USING gin (tsv)")
    cur.execute(f"""CREATE TABLE {n.chunk} (
        doc_id text NOT NULL REFERENCES {n.doc} (id) ON DELETE CASCADE, ord int NOT NULL,
        passage text NOT NULL, embedding vector({int(dim)}) NOT NULL, key text NOT NULL DEFAULT '',
        PRIMARY KEY (doc_id, ord))""")
    cur.execute(f"CREATE TABLE {n.term} (term text PRIMARY KEY, df int NOT NULL)")
    if hnsw:
        create_hnsw(cur, n)
    return n


def create_hnsw(cur, n: Names) -> None:
    """Inner product on normalised vectors (cosine); built once over a filled table is faster
    than growing it row by row, so a rebuild creates it at commit."""
    cur.execute(f"CREATE INDEX IF NOT EXISTS {n.chunk}_hnsw ON {n.chunk} USING hnsw (embedding vector_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")


def drop_generation(cur, prefix: str, generation: int) -> None:
    """Drop a generation's tables (readers lock them in this same order: see PgSearchEngine)."""
    n = Names(prefix, generation)
    cur.execute(f"DROP TABLE IF EXISTS {n.chunk}, {n.term}, {n.doc}")


def check_current(state: dict | None, embedder_name: str, dim: int, where: str) -> None:
    want = {"schema_version": PG_SCHEMA_VERSION, "embedder": embedder_name, "dim": dim}
    if state is None:
        raise IndexMismatchError(f"search index {where} has no current generation; {REINDEX_HINT}")
    diff = {k: (state.get(k), v) for k, v in want.items() if state.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: index has {a!r}, expected {b!r}" for k, (a, b) in diff.items())
        raise IndexMismatchError(f"search index {where} does not match ({detail}); {REINDEX_HINT}")


def manifest(generation: int, embedder_name: str, dim: int) -> dict:
    return {"generation": generation, "embedder": embedder_name, "dim": dim,
            "schema_version": PG_SCHEMA_VERSION}


def write_batch(cur, names: Names, text_config: str, entries, deletes) -> None:
    """Replace the rows of ``entries`` and remove ``deletes`` in one generation, keeping the
    term document frequencies right (the caller holds the write lock)."""
    ids = [e.doc.id for e in entries]
    gone = list(dict.fromkeys([*ids, *deletes]))
    if gone:
        cur.execute(f"""UPDATE {names.term} t SET df = t.df - x.n FROM (
                          SELECT lexeme, count(*) AS n FROM {names.doc} d, unnest(tsvector_to_array(d.tsv)) lexeme
                          WHERE d.id = ANY(%s) GROUP BY lexeme) x WHERE t.term = x.lexeme""", (gone,))
        cur.execute(f"DELETE FROM {names.doc} WHERE id = ANY(%s)", (gone,))
    if not entries:
        return
    cur.executemany(
        f"""INSERT INTO {names.doc} (id, version, fields, chunks, tsv) VALUES (%s, %s, %s, %s,
              setweight(to_tsvector(%s::regconfig, %s), 'A') || setweight(to_tsvector(%s::regconfig, %s), 'B')
              || setweight(to_tsvector(%s::regconfig, %s), 'C'))""",
        [(doc.id, doc.version or "", json.dumps({str(k): str(v) for k, v in doc.fields.items()}), len(chunks),
          text_config, segment(clean(doc.title)), text_config, segment(clean(" ".join(doc.tags))),
          text_config, segment(clean(doc.body))) for doc, chunks, _v, _k in entries])
    with cur.copy(f"COPY {names.chunk} (doc_id, ord, passage, embedding, key) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["text", "int4", "text", "vector", "text"])
        for doc, chunks, vectors, keys in entries:
            for i, (passage, vec, key) in enumerate(zip(chunks, vectors, keys)):
                copy.write_row((doc.id, i, clean(passage), np.asarray(vec, np.float32), key))
    cur.execute(f"""INSERT INTO {names.term} (term, df)
                    SELECT lexeme, count(*) FROM {names.doc} d, unnest(tsvector_to_array(d.tsv)) lexeme
                    WHERE d.id = ANY(%s) GROUP BY lexeme
                    ON CONFLICT (term) DO UPDATE SET df = {names.term}.df + excluded.df""", (ids,))

"""PgSearchEngine: the same hybrid search, kept in PostgreSQL (full-text search + pgvector).

Every app server then reads and writes one shared index with no local files. The interface,
the chunking, the embedding and the fusion are those of :class:`search.SearchEngine`; only the
two rankers differ:

* keyword: ``ts_rank`` over a weighted tsvector (title A, tags B, body C) built by a
  configurable text search configuration ("english" by default), CJK text segmented by jieba
  first (:mod:`search.pg_text`). A query keeps its ``max_query_terms`` rarest lexemes, found
  in a document-frequency table, as the local backend does, so a typed description never
  becomes a 40-term OR.
* semantic: best chunk per document by inner product on normalised vectors; exact below
  ``SearchConfig.ann_threshold`` chunks, the HNSW index above it, with an exact fallback when
  facet filters leave too few candidates (HNSW filters after the index scan).

It talks to PostgreSQL through psycopg (a connection pool), never through SQLAlchemy, so the
search library keeps no dependency on the application's ORM.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Collection, Iterable, Mapping

import numpy as np

from . import pg_store as store
from .embedders import Embedder
from .engine import check_args, check_mode
from .fusion import fuse
from .pg_text import clean, quote_lexeme, segment
from .pipeline import index_batches
from .types import Document, Hit, IndexMismatchError, SearchConfig

REFRESH_INTERVAL = 0.5        # how often a reader looks whether a rebuild switched generations
COUNT_INTERVAL = 10.0         # how often the chunk count (exact or HNSW?) is refreshed
INDEX_BATCH = 256
RANK_WEIGHTS = "{0.1, 0.5, 0.75, 1.0}"  # D, C (body), B (tags), A (title): title twice the body
EF_SEARCH_MAX = 1000          # pgvector's upper bound for hnsw.ef_search
# HNSW candidates asked for at least: bench/pg_vectors.py measured ef 200 at recall 0.99-1.0 for
# 4-6 ms (ef 80: 0.88-0.95), and bench/scale.py's 157,080 chunks gave recall 0.63 at 80.
ANN_MIN_CANDIDATES = 200


def _register(conn) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)
    conn.commit()


def _array(value) -> np.ndarray:
    """A pgvector value as float32 (psycopg hands back a Vector or an ndarray)."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32)


class PgSearchEngine:
    def __init__(self, dsn: str, embedder: Embedder, config: SearchConfig = SearchConfig(), *,
                 allow_mismatch: bool = False, text_config: str = "english", prefix: str = "search",
                 pool_size: int = 4):
        import psycopg
        from psycopg_pool import ConnectionPool

        self.embedder = embedder
        self.config = config
        self.prefix = store.check_prefix(prefix)
        self.text_config = text_config
        self._allow_mismatch = allow_mismatch
        with psycopg.connect(dsn, autocommit=True) as conn:  # the extension before the pool's type lookup
            conn.execute("SELECT pg_advisory_lock(%s)", (store.lock_key(self.prefix, "write"),))
            try:
                store.create_state(conn.cursor(), self.prefix)
                conn.execute("SELECT %s::regconfig", (text_config,))
                if store.read_state(conn.cursor(), self.prefix, "current") is None:
                    with conn.transaction():
                        gen = store.next_generation(conn.cursor(), self.prefix)
                        store.create_generation(conn.cursor(), self.prefix, gen, embedder.dim, hnsw=True)
                        store.write_state(conn.cursor(), self.prefix, "current",
                                          store.manifest(gen, embedder.name, embedder.dim))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (store.lock_key(self.prefix, "write"),))
        self.dsn = dsn
        # check: a connection is tested as it is handed out (one round trip), so after a database
        # restart no query fails on a connection the pool still held (bench/faults.py).
        self._pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, configure=_register, open=True,
                                    name=f"search-{self.prefix}", check=ConnectionPool.check_connection)
        self._names: store.Names | None = None
        self._error: Exception | None = None
        self._checked = 0.0
        self._chunks: tuple[float, int, int] | None = None  # (when, documents, chunks)
        self._refresh_quietly()
        if self._error and not allow_mismatch:
            self._pool.close()
            raise self._error

    # ---------------------------------------------------------------- state
    def connection(self):
        """A pooled connection (a context manager that commits on exit); for Rebuild and tests."""
        return self._pool.connection()

    def _current(self, force: bool = False) -> store.Names:
        now = time.monotonic()
        if force or self._names is None or now - self._checked >= REFRESH_INTERVAL:
            with self._pool.connection() as conn:
                state = store.read_state(conn.cursor(), self.prefix, "current")
            try:
                store.check_current(state, self.embedder.name, self.embedder.dim, f"{self.prefix}_* tables")
                self._error = None
            except Exception as exc:  # IndexMismatchError: raised on use
                self._error = exc
            generation = int(state["generation"]) if state else 0
            if self._names is None or self._names.generation != generation:
                self._chunks = None
            self._names = store.Names(self.prefix, generation)
            self._checked = now
        if self._error:
            raise self._error
        return self._names

    def _retrying(self, work: Callable, *, read: bool = True):
        """Run ``work(cur, names)`` in one transaction; once more on fresh state if a rebuild
        dropped our tables. A read first locks the generation's tables, in the order a rebuild's
        DROP takes them, so a reader never holds one while waiting for another (deadlock)."""
        import psycopg

        for attempt in (0, 1):
            names = self._current(force=attempt == 1)
            try:
                with self._pool.connection() as conn, conn.cursor() as cur:
                    if read:
                        cur.execute(f"LOCK TABLE {names.chunk}, {names.term}, {names.doc} IN ACCESS SHARE MODE")
                    return work(cur, names)
            except psycopg.errors.UndefinedTable:
                if attempt:
                    raise
        return None

    # ---------------------------------------------------------------- writes
    def index(self, docs: Iterable[Document], *, progress: Callable[[int], None] | None = None) -> int:
        """Upsert documents (batch by batch, each batch one transaction)."""
        self._current()
        return index_batches(docs, self.embedder, self.config, lambda entries: self.write_entries(entries, []),
                             progress, INDEX_BATCH, known=self._known)

    def _known(self, doc_ids, names: store.Names | None = None) -> dict:
        """{chunk key: vector} the live generation (or ``names``) holds for these documents."""
        def work(cur, current):
            cur.execute(f"SELECT key, embedding FROM {(names or current).chunk} "
                        "WHERE doc_id = ANY(%s) AND key <> ''", (list(doc_ids),))
            return {key: _array(vec) for key, vec in cur.fetchall()}

        if names is not None:
            with self._pool.connection() as conn, conn.cursor() as cur:
                return work(cur, None)
        try:
            return self._retrying(work, read=False)
        except IndexMismatchError:  # another model's or layout's index: nothing to reuse
            return {}

    def delete(self, ids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(str(i) for i in ids))
        return self.write_entries([], wanted) if wanted else 0

    def write_entries(self, entries, deletes, names: store.Names | None = None) -> int:
        """Apply upserts and deletes in one transaction under the write lock; returns how many
        of ``deletes`` were present. ``names`` targets a staging generation (Rebuild)."""
        def work(cur, _current=None):
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (store.lock_key(self.prefix, "write"),))
            target = names
            if target is None:  # the live generation, as it is once we hold the lock
                state = store.read_state(cur, self.prefix, "current")
                target = store.Names(self.prefix, int(state["generation"]))
            cur.execute(f"SELECT count(*) FROM {target.doc} WHERE id = ANY(%s)", (list(deletes),))
            present = cur.fetchone()[0]
            store.write_batch(cur, target, self.text_config, entries, deletes)
            return present

        if names is not None:  # a rebuild's staging generation: the live one may not match
            with self._pool.connection() as conn, conn.cursor() as cur:
                return work(cur)
        present = self._retrying(work, read=False)
        self._chunks = None
        return present

    # ---------------------------------------------------------------- queries
    def query(self, text: str, *, filters: Mapping[str, Collection[str]] | None = None,
              limit: int = 10, mode: str = "hybrid") -> list[Hit]:
        """Ranked hits for free user text; never raises for odd text."""
        check_mode(mode)
        filters = check_args(filters, limit)
        text = clean(("" if text is None else str(text))[: self.config.max_query_chars])
        self._current()
        if not text.strip():
            return []
        depth = max(self.config.candidates, limit)
        qvec = self.embedder.encode([text])[0] if mode != "keyword" else None

        def work(cur, names):
            lexical = self._keyword(cur, names, text, filters, depth) if mode != "semantic" else []
            semantic = self._semantic(cur, names, qvec, filters, depth) if qvec is not None else []
            if mode == "keyword":
                scored = lexical
            elif mode == "semantic":
                scored = [(d, s) for d, s, _ in semantic]
            else:
                scored = fuse(self.config, lexical, [(d, s) for d, s, _ in semantic])
            scored = scored[:limit]
            passages = {d: p for d, _, p in semantic}
            missing = [d for d, _ in scored if d not in passages]
            if missing and qvec is not None:
                passages.update(self._best_chunks(cur, names, missing, qvec))
            return lexical, semantic, scored, passages

        lexical, semantic, scored, passages = self._retrying(work)
        kw_rank = {doc_id: r for r, (doc_id, _) in enumerate(lexical, 1)}
        sem_rank = {doc_id: r for r, (doc_id, _, _) in enumerate(semantic, 1)}
        return [Hit(d, float(s), kw_rank.get(d), sem_rank.get(d), passages.get(d)) for d, s in scored]

    def _keyword(self, cur, names, text, filters, depth) -> list[tuple[str, float]]:
        """Rank by the sum over the chosen lexemes of idf x ts_rank: ts_rank alone has no notion
        of how rare a word is (stackfaq keyword nDCG@10 0.853 without idf, 0.862 with)."""
        where, params = _filter_sql(filters)
        if where is False:
            return []
        cur.execute(f"""SELECT t.term, t.df FROM (SELECT DISTINCT lexeme FROM unnest(to_tsvector(%s::regconfig, %s))) q
                        JOIN {names.term} t ON t.term = q.lexeme WHERE t.df > 0
                        ORDER BY t.df, t.term LIMIT %s""",
                    (self.text_config, segment(text), self.config.max_query_terms))
        chosen = cur.fetchall()
        if not chosen:
            return []
        docs, _chunks = self._counts(cur, names)
        terms, weights = [], []
        for term, df in chosen:
            terms.append(quote_lexeme(term))
            weights.append(math.log(1 + (max(docs, df) - df + 0.5) / (df + 0.5)))  # BM25's idf
        cur.execute(f"""SELECT d.id, (SELECT sum(w * ts_rank(%s, d.tsv, CAST(t AS tsquery), 1))
                                      FROM unnest(%s::text[], %s::float8[]) AS x(t, w)) AS s
                        FROM {names.doc} d WHERE d.tsv @@ CAST(%s AS tsquery) {where}
                        ORDER BY s DESC, d.id LIMIT %s""",
                    (RANK_WEIGHTS, terms, weights, " | ".join(terms), *params, depth))
        return [(r[0], float(r[1])) for r in cur.fetchall()]

    def _counts(self, cur, names) -> tuple[int, int]:
        """(documents, chunks), refreshed every COUNT_INTERVAL s and after this engine's writes."""
        now = time.monotonic()
        if self._chunks is None or now - self._chunks[0] > COUNT_INTERVAL:
            cur.execute(f"SELECT (SELECT count(*) FROM {names.doc}), (SELECT count(*) FROM {names.chunk})")
            docs, chunks = cur.fetchone()
            self._chunks = (now, int(docs), int(chunks))
        return self._chunks[1], self._chunks[2]

    def _semantic(self, cur, names, qvec, filters, k, exclude: str | None = None):
        """Top ``k`` documents as (id, best chunk score, best chunk passage)."""
        where, params = _filter_sql(filters)
        if where is False:
            return []
        if exclude is not None:
            where += " AND d.id <> %s"
            params = [*params, exclude]
        docs, total = self._counts(cur, names)
        if total > self.config.ann_threshold:
            found = self._semantic_ann(cur, names, qvec, where, params, k, docs, total)
            if found is not None:
                return found
        cur.execute(f"""SELECT doc_id, passage, s FROM (
                          SELECT DISTINCT ON (c.doc_id) c.doc_id, c.passage, -(c.embedding <#> %s) AS s
                          FROM {names.chunk} c JOIN {names.doc} d ON d.id = c.doc_id WHERE TRUE {where}
                          ORDER BY c.doc_id, c.embedding <#> %s) best
                        ORDER BY s DESC, doc_id LIMIT %s""", (qvec, *params, qvec, k))
        return [(r[0], float(r[2]), r[1]) for r in cur.fetchall()]

    def _semantic_ann(self, cur, names, qvec, where, params, k, docs, total):
        """HNSW candidates, widened until ``k`` documents pass the filters; None: go exact."""
        per_doc = max(1.0, total / max(1, docs))
        count = int(min(total, EF_SEARCH_MAX, max(ANN_MIN_CANDIDATES, 4 * k, 2 * k * per_doc)))
        while True:
            cur.execute(f"SET LOCAL hnsw.ef_search = {count}")
            cur.execute(f"""SELECT c.doc_id, c.passage, -(c.embedding <#> %s) AS s FROM (
                              SELECT doc_id, passage, embedding FROM {names.chunk}
                              ORDER BY embedding <#> %s LIMIT %s) c
                            JOIN {names.doc} d ON d.id = c.doc_id WHERE TRUE {where}""",
                        (qvec, qvec, count, *params), prepare=False)  # never a cached generic plan
            seen: dict[str, tuple[str, float, str]] = {}
            for doc_id, passage, s in sorted(cur.fetchall(), key=lambda r: -r[2]):
                seen.setdefault(doc_id, (doc_id, float(s), passage))
            if len(seen) >= k:
                return list(seen.values())[:k]
            if count >= min(total, EF_SEARCH_MAX):
                return None if count < total else list(seen.values())
            count = min(total, EF_SEARCH_MAX, count * 4)

    def count_docs(self, cur, names) -> int:
        cur.execute(f"SELECT count(*) FROM {names.doc}")
        return int(cur.fetchone()[0])

    def _best_chunks(self, cur, names, doc_ids, qvec) -> dict[str, str]:
        cur.execute(f"""SELECT DISTINCT ON (doc_id) doc_id, passage FROM {names.chunk}
                        WHERE doc_id = ANY(%s) ORDER BY doc_id, embedding <#> %s""", (list(doc_ids), qvec))
        return dict(cur.fetchall())

    def similar(self, doc_id: str, *, filters: Mapping[str, Collection[str]] | None = None,
                limit: int = 5) -> list[Hit]:
        """Semantic neighbours of an indexed document (mean of its chunk vectors)."""
        filters = check_args(filters, limit)

        def work(cur, names):
            cur.execute(f"SELECT avg(embedding) FROM {names.chunk} WHERE doc_id = %s", (doc_id,))
            mean = cur.fetchone()[0]
            if mean is None:
                return []
            q = _array(mean)
            q /= max(float(np.linalg.norm(q)), 1e-12)
            return self._semantic(cur, names, q, filters, limit, exclude=doc_id)

        found = self._retrying(work)
        return [Hit(d, s, None, r, p) for r, (d, s, p) in enumerate(found, 1)]

    def versions(self) -> dict[str, str]:
        def work(cur, names):
            cur.execute(f"SELECT id, version FROM {names.doc}")
            return dict(cur.fetchall())
        return self._retrying(work)

    def count(self) -> int:
        return self._retrying(self.count_docs)

    def stats(self) -> dict:
        def work(cur, names):
            chunks = self._counts(cur, names)[1]
            return {"generation": f"{self.prefix}_{names.generation}", "documents": self.count_docs(cur, names),
                    "chunks": chunks, "ann": chunks > self.config.ann_threshold,
                    "embedder": self.embedder.name, "dim": self.embedder.dim, "backend": "postgresql"}
        return self._retrying(work)

    # --------------------------------------------------------------- rebuild
    def begin_rebuild(self, *, resume: bool = True):
        from .pg_rebuild import PgRebuild

        return PgRebuild.begin(self, resume=resume)

    def _after_commit(self) -> None:
        self._chunks = None
        self._refresh_quietly()

    def _refresh_quietly(self) -> None:
        try:
            self._current(force=True)
        except Exception:  # noqa: BLE001 - still mismatched; queries raise it
            pass

    def drop(self) -> None:
        """Remove every table of this prefix (evaluation runs and tests)."""
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename LIKE %s", (f"{self.prefix}\\_%",))
            tables = [r[0] for r in cur.fetchall()]
            if tables:
                cur.execute("DROP TABLE IF EXISTS " + ", ".join(tables) + " CASCADE")

    def close(self) -> None:
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _filter_sql(filters: Mapping[str, set[str]] | None):
    """(SQL fragment starting with AND, params) for facet filters on ``d``; False: nothing allowed."""
    if not filters:
        return "", []
    parts, params = [], []
    for name, allowed in filters.items():
        if not allowed:
            return False, []
        parts.append("d.fields ->> %s = ANY(%s)")
        params += [name, sorted(allowed)]
    return " AND " + " AND ".join(parts), params

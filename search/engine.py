"""SearchEngine: hybrid (BM25F + embeddings) search over one index folder.

Readers keep one Whoosh searcher and one in-memory vector snapshot and check
at most every ``REFRESH_INTERVAL`` seconds (three stat calls) whether another
writer or process changed them. Whoosh work runs under a lock (it is pure
Python, so the GIL would serialise it anyway); embedding and the numpy dot
run outside it, so threads overlap there. Writes take an fcntl lock.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping

import numpy as np

from . import keyword
from .embedders import Embedder
from .fusion import fuse
from .generations import (FileLock, check_manifest, make_manifest, next_generation,
                          pointer_stamp, read_pointer, write_atomic, write_manifest)
from .pipeline import index_batches, write_entries
from .types import Document, Hit, QueryError, SearchConfig
from .vectors import STORE_FILE, VectorData

MODES = ("keyword", "semantic", "hybrid")
_BLAS_LIMITED = False


def _one_blas_thread() -> None:
    """Keep numpy's BLAS on one thread in this process.

    A query's matrix-vector product is a few MFLOP: BLAS threads do not speed it
    up, but they keep spinning after it and take the cores from torch's next
    query encoding (measured on 2 cores: encode 16.6 ms -> 6.4 ms, dot 2.8 -> 1.6 ms).
    """
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _BLAS_LIMITED = True


def check_args(filters, limit) -> dict[str, set[str]] | None:
    """Validate query arguments (both backends); facet filters as name -> set of values."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise QueryError(f"limit must be a positive integer, got {limit!r}")
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise QueryError("filters must be a mapping of facet -> allowed values")
    # A bare string means one value, not a collection of characters.
    return {str(k): {v} if isinstance(v, str) else {str(x) for x in v}
            for k, v in filters.items()}


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise QueryError(f"mode must be one of {MODES}, got {mode!r}")


REFRESH_INTERVAL = 0.5
INDEX_BATCH = 256


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except FileNotFoundError:
        return ()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class _Live:
    name: str
    gen_dir: Path
    ix: object
    searcher: object
    vectors: VectorData
    stamp: tuple
    error: Exception | None = None  # manifest mismatch, raised on use
    filter_docs: dict = field(default_factory=dict)  # facet filter -> doc numbers, per searcher


class SearchEngine:
    def __init__(self, path: str | Path, embedder: Embedder,
                 config: SearchConfig = SearchConfig(), *, allow_mismatch: bool = False):
        """Open (creating if empty) the index at ``path``.

        ``allow_mismatch=True`` is for the reindex command only: opening an
        index built by another embedder/schema then succeeds so that
        :meth:`begin_rebuild` can replace it; queries and writes still raise
        IndexMismatchError until the rebuild is committed.
        """
        if config.fusion not in ("relative", "rrf"):
            raise QueryError(f"SearchConfig.fusion must be 'relative' or 'rrf', got {config.fusion!r}")
        _one_blas_thread()
        self.root = Path(path)
        self.embedder = embedder
        self.config = config
        self._allow_mismatch = allow_mismatch
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_lock = FileLock(self.root / "write.lock")
        self._lock = threading.RLock()
        self._checked = 0.0
        if read_pointer(self.root, "CURRENT") is None:
            with self._write_lock:
                if read_pointer(self.root, "CURRENT") is None:
                    self._create_generation(publish=True)
        self._live = self._open_live()
        if self._live.error and not allow_mismatch:
            raise self._live.error

    # ------------------------------------------------------------ generations
    def _create_generation(self, publish: bool) -> Path:
        """New empty generation (caller holds the write lock)."""
        name = next_generation(self.root)
        gen_dir = self.root / name
        gen_dir.mkdir()
        write_manifest(gen_dir, make_manifest(self.embedder.name, self.embedder.dim))
        keyword.open_or_create(gen_dir / "whoosh").close()
        VectorData.empty(self.embedder.dim).save(gen_dir / "vectors", self.config.ann_threshold)
        if publish:
            write_atomic(self.root / "CURRENT", name)
        return gen_dir

    def _stamp(self, gen_dir: Path) -> tuple:
        return (pointer_stamp(self.root), _stat(gen_dir / "whoosh"),
                _stat(gen_dir / "vectors" / STORE_FILE))

    def _open_live(self) -> _Live:
        name = read_pointer(self.root, "CURRENT")
        gen_dir = self.root / name
        stamp = self._stamp(gen_dir)
        try:
            check_manifest(gen_dir, self.embedder.name, self.embedder.dim)
        except Exception as exc:  # IndexMismatchError, kept for later use
            empty = VectorData.empty(self.embedder.dim)
            return _Live(name, gen_dir, None, None, empty, stamp, exc)
        ix = keyword.open_or_create(gen_dir / "whoosh")
        searcher = ix.searcher(weighting=keyword.weighting())
        vectors = VectorData.load(gen_dir / "vectors", self.embedder.dim, self.config.ann_threshold)
        return _Live(name, gen_dir, ix, searcher, vectors, stamp)

    def _state(self, force: bool = False) -> _Live:
        """Current snapshot, reopened if CURRENT, Whoosh or the vectors changed."""
        now = time.monotonic()
        if not force and now - self._checked < REFRESH_INTERVAL:
            return self._live
        with self._lock:
            live = self._live
            self._checked = now
            if read_pointer(self.root, "CURRENT") != live.name:
                self._live = self._open_live()
                self._close_live(live)
            elif self._stamp(live.gen_dir) != live.stamp and live.error is None:
                stamp = self._stamp(live.gen_dir)
                # (Searcher.refresh() crashes in whoosh-reloaded when the old
                # reader was empty, and a change is rare: just reopen.)
                searcher = live.ix.searcher(weighting=keyword.weighting())
                live.searcher.close()
                vectors = VectorData.load(live.gen_dir / "vectors", self.embedder.dim,
                                          self.config.ann_threshold)
                self._live = _Live(live.name, live.gen_dir, live.ix, searcher, vectors, stamp)
            return self._live

    @staticmethod
    def _close_live(live: _Live) -> None:
        if live.searcher is not None:
            live.searcher.close()

    def _usable(self, force: bool = False) -> _Live:
        live = self._state(force)
        if live.error:
            raise live.error
        return live

    # ----------------------------------------------------------------- writes
    def index(self, docs: Iterable[Document], *,
              progress: Callable[[int], None] | None = None) -> int:
        """Upsert documents (batch by batch, each batch committed atomically)."""
        self._usable()
        return index_batches(docs, self.embedder, self.config, lambda entries: self._write(entries, []),
                             progress, INDEX_BATCH, known=self._known)

    def _known(self, doc_ids) -> dict:
        """Vectors the live generation holds for these documents, by chunk key (an index of
        another model holds none)."""
        return self._state().vectors.known(doc_ids)

    def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id; returns how many were present."""
        wanted = list(dict.fromkeys(str(i) for i in ids))
        return self._write([], wanted) if wanted else 0

    def _write(self, entries, deletes) -> int:
        with self._write_lock:
            live = self._usable(force=True)  # another process may have written
            present = sum(1 for d in deletes if live.vectors.row_of(d) is not None)
            write_entries(live.gen_dir, live.ix, live.vectors, entries, deletes, self.config)
            self._state(force=True)
            return present

    # ---------------------------------------------------------------- queries
    def query(self, text: str, *, filters: Mapping[str, Collection[str]] | None = None,
              limit: int = 10, mode: str = "hybrid") -> list[Hit]:
        """Ranked hits for free user text; never raises for odd text."""
        check_mode(mode)
        filters = check_args(filters, limit)
        text = ("" if text is None else str(text))[: self.config.max_query_chars]
        live = self._usable()
        if not text.strip():
            return []
        depth = max(self.config.candidates, limit)
        qvec = None
        semantic: list[tuple[int, float, int]] = []
        # Sequential on purpose: running the Whoosh search (pure Python) in a thread beside
        # the query embedding was slower on 2 cores (GIL contention: p95 50 vs 44 ms).
        lexical: list[tuple[str, float]] = []
        if mode != "semantic":
            lexical = self._keyword(text, filters, depth)
        if mode != "keyword":
            qvec = self.embedder.encode([text])[0]
            semantic = live.vectors.search(qvec, depth, live.vectors.doc_mask(filters))
        ids = live.vectors.ids
        sem_ids = [ids[d] for d, _, _ in semantic]
        passages = {ids[d]: live.vectors.chunks[row] for d, _, row in semantic}
        if mode == "keyword":
            scored = lexical
        elif mode == "semantic":
            scored = [(ids[d], s) for d, s, _ in semantic]
        else:
            scored = fuse(self.config, lexical, [(ids[d], s) for d, s, _ in semantic])
        kw_rank = {doc_id: r for r, (doc_id, _) in enumerate(lexical, 1)}
        sem_rank = {doc_id: r for r, doc_id in enumerate(sem_ids, 1)}
        hits = []
        for doc_id, score in scored[:limit]:
            passage = passages.get(doc_id)
            if passage is None and qvec is not None:
                passage = self._best_chunk(live.vectors, doc_id, qvec)
            hits.append(Hit(doc_id, float(score), kw_rank.get(doc_id), sem_rank.get(doc_id), passage))
        return hits

    def _keyword(self, text, filters, depth) -> list[tuple[str, float]]:
        for attempt in (0, 1):
            with self._lock:
                live = self._usable(force=attempt == 1)
                try:
                    return keyword.search(live.searcher, text, max_terms=self.config.max_query_terms,
                                          limit=depth, filters=filters, filter_cache=live.filter_docs)
                except OSError:  # generation removed under us: reopen once
                    if attempt:
                        raise
                    self._checked = 0.0
        return []

    @staticmethod
    def _best_chunk(data: VectorData, doc_id: str, qvec: np.ndarray) -> str | None:
        d = data.row_of(doc_id)
        if d is None:
            return None
        lo, hi = int(data.offsets[d]), int(data.offsets[d + 1])
        return data.chunks[lo + int(np.argmax(data.vectors[lo:hi] @ qvec))]

    def similar(self, doc_id: str, *, filters: Mapping[str, Collection[str]] | None = None,
                limit: int = 5) -> list[Hit]:
        """Semantic neighbours of an indexed document (mean of its chunk vectors)."""
        filters = check_args(filters, limit)
        data = self._usable().vectors
        d = data.row_of(doc_id)
        if d is None:
            return []
        q = data.vectors[data.offsets[d]:data.offsets[d + 1]].mean(axis=0)
        q /= max(float(np.linalg.norm(q)), 1e-12)
        found = data.search(q, limit, data.doc_mask(filters), exclude=d)
        return [Hit(data.ids[i], s, None, r, data.chunks[row])
                for r, (i, s, row) in enumerate(found, 1)]

    def versions(self) -> dict[str, str]:
        data = self._usable().vectors
        return dict(zip(data.ids, data.versions))

    def count(self) -> int:
        return len(self._usable().vectors.ids)

    def stats(self) -> dict:
        """Sizes for monitoring and benchmarks."""
        live = self._usable()
        return {"generation": live.name, "documents": len(live.vectors.ids),
                "chunks": int(len(live.vectors.vectors)), "ann": live.vectors.ann is not None,
                "embedder": self.embedder.name, "dim": self.embedder.dim, "backend": "local"}

    # ---------------------------------------------------------------- rebuild
    def begin_rebuild(self, *, resume: bool = True):
        from .rebuild import Rebuild

        return Rebuild.begin(self, resume=resume)

    def _after_commit(self) -> None:
        self._state(force=True)

    def close(self) -> None:
        """Release the searcher and the index (calling it twice is harmless)."""
        with self._lock:
            if getattr(self, "_closed", False):
                return
            self._closed = True
            self._close_live(self._live)
            if self._live.ix is not None:
                self._live.ix.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""Chunk-vector store: exact numpy search, usearch HNSW above a threshold.

A snapshot (:class:`VectorData`) is immutable: writers build a new one and
persist it as ONE ``vectors.npz`` (ids, versions, facets, chunk texts and the
matrix together) written to a temp file and renamed, so a crash leaves either
the old or the new store, never a mix. Chunks of a document are contiguous
rows, so "document score = best chunk" is a single ``np.maximum.reduceat``.

Above ``ann_threshold`` rows an HNSW index is saved beside the npz as
``ann-<token>.usearch`` (the token ties it to exactly one npz; a missing or
stale file is simply rebuilt on load).
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Mapping, Sequence

import numpy as np

STORE_FILE = "vectors.npz"
ANN_CONNECTIVITY = 32
ANN_EXPANSION_ADD = 128
ANN_EXPANSION_SEARCH = 256


def build_ann(vectors: np.ndarray):
    """HNSW (inner product on normalised rows == cosine) keyed by row number."""
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="ip", dtype="f32",
                  connectivity=ANN_CONNECTIVITY, expansion_add=ANN_EXPANSION_ADD,
                  expansion_search=ANN_EXPANSION_SEARCH)
    if len(vectors):
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=0)
    return index


def measure_recall(n: int = 20000, dim: int = 64, *, queries: int = 100, k: int = 10,
                   seed: int = 0) -> float:
    """ANN recall@k against exact search on random unit vectors (for tests/tuning)."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, dim)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    q = rng.standard_normal((queries, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.argsort(-(q @ data.T), axis=1)[:, :k]
    found = build_ann(data).search(q, k).keys
    hits = sum(len(set(exact[i]) & set(found[i].tolist())) for i in range(queries))
    return hits / (queries * k)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class VectorData:
    dim: int
    ids: list[str]
    versions: list[str]
    facets: list[dict]
    offsets: np.ndarray          # int64 (n_docs + 1); doc i owns rows offsets[i]:offsets[i+1]
    vectors: np.ndarray          # float32 (n_chunks, dim)
    chunks: list[str]
    token: str = ""
    keys: list[str] | None = None  # chunk_key per chunk ("" where unknown: stores written before keys)
    ann: object | None = None
    _index: dict = field(default_factory=dict, repr=False)
    _facet_codes: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._index = {doc_id: i for i, doc_id in enumerate(self.ids)}
        if self.keys is None or len(self.keys) != len(self.chunks):
            self.keys = [""] * len(self.chunks)
        self.chunk_doc = np.repeat(np.arange(len(self.ids)), np.diff(self.offsets))

    # ----------------------------------------------------------------- build
    @classmethod
    def empty(cls, dim: int) -> "VectorData":
        return cls(dim, [], [], [], np.zeros(1, np.int64), np.zeros((0, dim), np.float32), [])

    def upsert(self, entries: Sequence) -> "VectorData":
        """New snapshot with ``entries`` (pipeline.Entry: doc, chunks, vectors, keys) replacing
        the same ids."""
        latest = {e.doc.id: e for e in entries}  # last one wins inside a batch too
        keep = [i for i, doc_id in enumerate(self.ids) if doc_id not in latest]
        return self._rebuilt(keep, list(latest.values()))

    def delete(self, ids: Collection[str]) -> tuple["VectorData", int]:
        gone = {i for i in (self._index.get(d) for d in ids) if i is not None}
        keep = [i for i in range(len(self.ids)) if i not in gone]
        return self._rebuilt(keep, []), len(gone)

    def _rebuilt(self, keep: list[int], new) -> "VectorData":
        rows = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in keep]
        old_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        mats = [self.vectors[old_rows]] + [np.asarray(e.vectors, np.float32) for e in new]
        counts = [int(self.offsets[i + 1] - self.offsets[i]) for i in keep] + [len(e.chunks) for e in new]
        old = old_rows.tolist()
        return VectorData(
            self.dim,
            [self.ids[i] for i in keep] + [e.doc.id for e in new],
            [self.versions[i] for i in keep] + [e.doc.version for e in new],
            [self.facets[i] for i in keep] + [dict(e.doc.fields) for e in new],
            np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
            np.concatenate(mats).reshape(-1, self.dim) if mats else np.zeros((0, self.dim), np.float32),
            [self.chunks[r] for r in old] + [c for e in new for c in e.chunks],
            keys=[self.keys[r] for r in old] + [k for e in new for k in e.keys],
        )

    def known(self, doc_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """{chunk key: vector} held for these documents (pipeline.Known)."""
        out = {}
        for doc_id in doc_ids:
            i = self._index.get(doc_id)
            if i is not None:
                for r in range(int(self.offsets[i]), int(self.offsets[i + 1])):
                    if self.keys[r]:
                        out[self.keys[r]] = self.vectors[r]
        return out

    # ----------------------------------------------------------------- disk
    def save(self, folder: Path, ann_threshold: int) -> None:
        """Atomically replace the store in ``folder`` (HNSW first, npz last)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.token = uuid.uuid4().hex
        if len(self.vectors) > ann_threshold:
            self.ann = build_ann(self.vectors)
            tmp = folder / f".ann-{self.token}.tmp"
            self.ann.save(str(tmp))
            os.replace(tmp, folder / f"ann-{self.token}.usearch")
        else:
            self.ann = None
        meta = json.dumps({"ids": self.ids, "versions": self.versions, "facets": self.facets,
                           "chunks": self.chunks, "keys": self.keys, "token": self.token}, ensure_ascii=False)
        tmp = folder / f".{STORE_FILE}.{self.token}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, vectors=self.vectors, offsets=self.offsets,
                     meta=np.frombuffer(meta.encode("utf-8"), dtype=np.uint8))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / STORE_FILE)
        _fsync_dir(folder)
        for stale in folder.glob("ann-*.usearch"):
            if stale.name != f"ann-{self.token}.usearch":
                stale.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, dim: int, ann_threshold: int) -> "VectorData":
        path = folder / STORE_FILE
        if not path.exists():
            return cls.empty(dim)
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            data = cls(dim, meta["ids"], meta["versions"], meta["facets"],
                       z["offsets"].astype(np.int64), z["vectors"].astype(np.float32, copy=False),
                       meta["chunks"], meta["token"], meta.get("keys"))
        if len(data.vectors) > ann_threshold:
            ann_path = folder / f"ann-{data.token}.usearch"
            if ann_path.exists():
                from usearch.index import Index

                data.ann = Index.restore(str(ann_path))
                data.ann.expansion_search = ANN_EXPANSION_SEARCH
            else:
                data.ann = build_ann(data.vectors)
        return data

    # ----------------------------------------------------------------- query
    def row_of(self, doc_id: str) -> int | None:
        return self._index.get(doc_id)

    def doc_mask(self, filters: Mapping[str, Collection[str]] | None) -> np.ndarray | None:
        """Boolean mask over documents allowed by facet filters (None = all)."""
        if not filters:
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        for name, allowed in filters.items():
            codes, lookup = self._codes(name)
            wanted = [lookup[v] for v in allowed if v in lookup]
            mask &= np.isin(codes, np.asarray(wanted, dtype=np.int32))
        return mask

    def _codes(self, name: str):
        # Cached per facet *name* (a small fixed set), never per query value.
        if name not in self._facet_codes:
            lookup: dict[str, int] = {}
            codes = np.array([lookup.setdefault(f[name], len(lookup)) if name in f else -1
                              for f in self.facets], dtype=np.int32)
            self._facet_codes[name] = (codes, lookup)
        return self._facet_codes[name]

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None,
               exclude: int | None = None) -> list[tuple[int, float, int]]:
        """Top ``k`` documents as (doc_index, best chunk score, best chunk row)."""
        if not self.ids or k <= 0:
            return []
        if mask is not None or exclude is not None:
            mask = np.ones(len(self.ids), bool) if mask is None else mask.copy()
            if exclude is not None:
                mask[exclude] = False
            if not mask.any():
                return []
        q = np.asarray(query, np.float32).reshape(-1)
        if self.ann is not None and (mask is None or mask.mean() > 0.05):
            return self._search_ann(q, k, mask)
        scores = self.vectors @ q
        best = np.maximum.reduceat(scores, self.offsets[:-1])
        if mask is not None:
            best[~mask] = -np.inf
        k = min(k, int(mask.sum()) if mask is not None else len(best))
        top = np.argpartition(-best, k - 1)[:k] if k < len(best) else np.arange(len(best))
        top = top[np.argsort(-best[top], kind="stable")]
        out = []
        for d in top.tolist():
            lo = int(self.offsets[d])
            out.append((d, float(best[d]), lo + int(np.argmax(scores[lo:self.offsets[d + 1]]))))
        return out

    def _search_ann(self, q: np.ndarray, k: int, mask: np.ndarray | None):
        n = len(self.vectors)
        per_doc = max(1.0, n / len(self.ids))
        count = int(min(n, max(4 * k, 2 * k * per_doc / (mask.mean() if mask is not None else 1.0))))
        while True:
            found = self.ann.search(q, count)
            seen: dict[int, tuple[int, float, int]] = {}
            for row, dist in zip(found.keys.tolist(), found.distances.tolist()):
                d = int(self.chunk_doc[row])
                if d not in seen and (mask is None or mask[d]):
                    seen[d] = (d, 1.0 - float(dist), int(row))
            if len(seen) >= k or count >= n:
                return sorted(seen.values(), key=lambda t: -t[1])[:k]
            count = min(n, count * 4)

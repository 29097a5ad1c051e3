"""Full rebuild into a staging generation while the live one keeps serving.

``flush(checkpoint)`` persists everything added so far (Whoosh commit, vector
npz) and only then records the caller's checkpoint in ``rebuild.json``; after
a crash, ``begin_rebuild(resume=True)`` reopens the staging generation with
the last recorded checkpoint, and the caller re-sends documents from there
(anything persisted after that checkpoint is simply upserted again).
``commit()`` switches ``CURRENT`` with one atomic rename.

A ``rebuild.lock`` held for the Rebuild's lifetime stops two rebuilds from
interleaving; the kernel releases it if the process dies.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from . import keyword
from .generations import (FileLock, check_manifest, read_pointer, remove_generation,
                          write_atomic)
from .pipeline import batched, embed_documents, write_entries
from .types import Document, IndexMismatchError
from .vectors import VectorData

AUTO_PERSIST_DOCS = 2000  # bound memory when the caller flushes rarely
STATE_FILE = "rebuild.json"


class Rebuild:
    def __init__(self, engine, gen_dir: Path, checkpoint: str | None, lock: FileLock):
        self._engine = engine
        self._gen_dir = gen_dir
        self._lock = lock
        self.checkpoint = checkpoint
        self._ix = keyword.open_or_create(gen_dir / "whoosh")
        cfg = engine.config
        self._data = VectorData.load(gen_dir / "vectors", engine.embedder.dim, cfg.ann_threshold)
        self._pending: list = []
        self._done = False

    @classmethod
    def begin(cls, engine, *, resume: bool = True) -> "Rebuild":
        lock = FileLock(engine.root / "rebuild.lock")
        if not lock.acquire(blocking=False):
            raise RuntimeError(f"another rebuild of {engine.root} is in progress")
        try:
            with engine._write_lock:
                root = engine.root
                name = read_pointer(root, "STAGING")
                if name and name == read_pointer(root, "CURRENT"):
                    name = None  # crashed inside commit(): that staging is live now
                    (root / "STAGING").unlink(missing_ok=True)
                if name and resume and (root / name).is_dir():
                    try:
                        check_manifest(root / name, engine.embedder.name, engine.embedder.dim)
                        state = json.loads((root / name / STATE_FILE).read_text("utf-8"))
                        return cls(engine, root / name, state.get("checkpoint"), lock)
                    except (OSError, ValueError, IndexMismatchError):  # unusable staging: start afresh
                        pass
                if name:
                    remove_generation(root / name)
                gen_dir = engine._create_generation(publish=False)
                write_atomic(gen_dir / STATE_FILE, json.dumps({"checkpoint": None}))
                write_atomic(root / "STAGING", gen_dir.name)
                return cls(engine, gen_dir, None, lock)
        except BaseException:
            lock.release()
            raise

    @property
    def generation(self) -> str:
        return self._gen_dir.name

    def add(self, docs: Iterable[Document]) -> int:
        """Embed and stage documents; returns how many were added."""
        self._check_open()
        added = 0
        for batch in batched(docs, 256):
            self._pending.extend(embed_documents(batch, self._engine.embedder, self._engine.config,
                                                 self._known))
            added += len(batch)
            if len(self._pending) >= AUTO_PERSIST_DOCS:
                self._persist()
        return added

    def _known(self, doc_ids) -> dict:
        """Vectors to reuse: the live generation's, then what this rebuild already staged."""
        known = self._engine._known(doc_ids)
        known.update(self._data.known(doc_ids))
        return known

    def _persist(self) -> None:
        if self._pending:
            with self._engine._write_lock:
                self._data = write_entries(self._gen_dir, self._ix, self._data, self._pending,
                                           [], self._engine.config)
            self._pending = []

    def flush(self, checkpoint: str) -> None:
        """Durably persist everything added so far together with ``checkpoint``."""
        self._check_open()
        self._persist()
        write_atomic(self._gen_dir / STATE_FILE, json.dumps({"checkpoint": checkpoint}))
        self.checkpoint = checkpoint

    def commit(self) -> None:
        """Make this generation live (one rename) and delete the previous one."""
        self._check_open()
        self._persist()
        root = self._engine.root
        with self._engine._write_lock:
            old = read_pointer(root, "CURRENT")
            write_atomic(root / "CURRENT", self._gen_dir.name)
            (root / "STAGING").unlink(missing_ok=True)
            (self._gen_dir / STATE_FILE).unlink(missing_ok=True)
            if old and old != self._gen_dir.name:
                remove_generation(root / old)
        self._finish()
        self._engine._after_commit()

    def abort(self) -> None:
        """Throw the staging generation away; the live one is untouched."""
        if self._done:
            return
        root = self._engine.root
        with self._engine._write_lock:
            if read_pointer(root, "STAGING") == self._gen_dir.name:
                (root / "STAGING").unlink(missing_ok=True)
            remove_generation(self._gen_dir)
        self._finish()

    def _finish(self) -> None:
        self._done = True
        self._pending = []
        self._ix.close()
        self._lock.release()

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("this rebuild was already committed or aborted")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Leaving without commit keeps the staging data for a later resume.
        if not self._done:
            self._pending = []
            self._done = True
            self._ix.close()
            self._lock.release()

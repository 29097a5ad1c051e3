"""On-disk layout: generations, manifest, pointer files and the writer lock.

::

    path/
      CURRENT          name of the live generation ("gen-000003")
      STAGING          name of a rebuild in progress (absent otherwise)
      write.lock       fcntl lock: one writer at a time, across processes
      rebuild.lock     fcntl lock held for the lifetime of a Rebuild
      gen-000003/
        manifest.json  {schema_version, embedder, dim, created}
        whoosh/        keyword index (atomic commits)
        vectors/       vectors.npz (+ ann-<token>.usearch), replaced atomically
        rebuild.json   {"checkpoint": ...} only while it is a staging generation

Pointer files are written to a temp file and renamed, so readers see either
the old or the new name. Readers never take locks.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path

from .types import REINDEX_HINT, IndexMismatchError

# Bump when the analyzer, Whoosh schema, chunking or store format changes.
SCHEMA_VERSION = 1
_GEN_RE = re.compile(r"^gen-(\d{6})$")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_pointer(root: Path, name: str) -> str | None:
    try:
        value = (root / name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value if _GEN_RE.match(value) else None


def pointer_stamp(root: Path) -> tuple:
    """Cheap change detector for CURRENT (inode changes on every rename)."""
    try:
        st = os.stat(root / "CURRENT")
    except FileNotFoundError:
        return ()
    return (st.st_ino, st.st_mtime_ns)


def next_generation(root: Path) -> str:
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := _GEN_RE.match(p.name))]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def make_manifest(embedder_name: str, dim: int) -> dict:
    return {"schema_version": SCHEMA_VERSION, "embedder": embedder_name, "dim": dim,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_manifest(gen_dir: Path, manifest: dict) -> None:
    write_atomic(gen_dir / "manifest.json", json.dumps(manifest, indent=2))


def check_manifest(gen_dir: Path, embedder_name: str, dim: int) -> dict:
    """Raise IndexMismatchError unless the generation matches this code and embedder."""
    try:
        manifest = json.loads((gen_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"search index {gen_dir} has no readable manifest ({exc}); "
                                 f"{REINDEX_HINT}") from exc
    want = {"schema_version": SCHEMA_VERSION, "embedder": embedder_name, "dim": dim}
    diff = {k: (manifest.get(k), v) for k, v in want.items() if manifest.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: index has {a!r}, expected {b!r}" for k, (a, b) in diff.items())
        raise IndexMismatchError(f"search index {gen_dir} does not match ({detail}); {REINDEX_HINT}")
    return manifest


def remove_generation(gen_dir: Path) -> None:
    """Delete a generation; open files stay readable for readers on POSIX."""
    shutil.rmtree(gen_dir, ignore_errors=True)


class FileLock:
    """fcntl.flock on a file in the index folder.

    flock locks belong to the open file description, so they exclude other
    threads of this process (each acquisition opens the file anew) as well as
    other processes, and the kernel drops them if the process dies.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fh = None

    def acquire(self, blocking: bool = True) -> bool:
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

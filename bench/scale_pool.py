"""bench/scale.py's stand-in vectors and reporting: real-model vectors of a pool of texts
(cached in bench/results), a PoolEmbedder that gives every other text a noisy pool vector,
and the log/percentile helpers both halves of the scale run print with."""
from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.queue_timing import pct

RESULTS = Path(__file__).resolve().parent / "results"
NOISE = 0.5  # norm of the noise added to a pool vector before renormalising (cosine ~0.9)
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50": round(statistics.median(ms), 1), "p95": round(pct(ms, 95), 1), "max": round(max(ms), 1)}


def machine() -> dict:
    load = os.getloadavg()
    mem = {line.split(":")[0]: line.split()[1] for line in open("/proc/meminfo") if ":" in line}
    return {"cpus": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in load],
            "mem_total_gib": round(int(mem["MemTotal"]) / 2**20, 1),
            "mem_available_gib": round(int(mem["MemAvailable"]) / 2**20, 1)}


# ------------------------------------------------------------------ vectors from a pool
def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class PoolEmbedder:
    """Stands in for the real model while writing: the real vector of a pooled window, else a
    pool vector chosen by the text's hash plus noise (deterministic per text), renormalised."""

    def __init__(self, name: str, texts: list[str], matrix: np.ndarray):
        self.name, self.dim = name, int(matrix.shape[1])
        self._exact = {t: i for i, t in enumerate(texts)}
        self._pool = matrix.astype(np.float32)
        self.seconds = 0.0
        self.exact_hits = self.pooled = 0

    def encode(self, texts, *, batch_size: int = 32) -> np.ndarray:
        t0 = time.perf_counter()
        texts = list(texts)
        out = np.empty((len(texts), self.dim), np.float32)
        noisy = []
        for j, text in enumerate(texts):
            i = self._exact.get(text)
            if i is None:
                noisy.append(j)
                h = _h(text)
                out[j] = self._pool[h % len(self._pool)]
            else:
                out[j] = self._pool[i]
        if noisy:
            rng = np.random.default_rng(_h(texts[noisy[0]]) ^ len(texts))
            noise = rng.standard_normal((len(noisy), self.dim)).astype(np.float32) * (NOISE / np.sqrt(self.dim))
            rows = out[noisy] + noise
            out[noisy] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        self.exact_hits += len(texts) - len(noisy)
        self.pooled += len(noisy)
        self.seconds += time.perf_counter() - t0
        return out


def pooled(cache: Path, texts: list[str], real) -> np.ndarray:
    """Real-model vectors of ``texts``, cached by their hash (bench/results is not committed)."""
    key = hashlib.sha256("\x1e".join([real.name, *texts]).encode()).hexdigest()[:16]
    path = cache.with_name(f"{cache.stem}-{key}.npy")
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), real.dim), np.float32)
    for start in range(0, len(order), 256):
        idx = order[start:start + 256]
        out[idx] = real.encode([texts[i] for i in idx])
        log(f"  pool {path.stem}: {min(start + 256, len(order))}/{len(order)} embedded")
    log(f"  pool of {len(texts)} embedded with {real.name} in {time.perf_counter() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out

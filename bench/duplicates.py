"""Duplicate-report detection quality: precision and recall of "same problem" by cosine.

    .venv/bin/python -m bench.duplicates            # table + the shipped threshold
    .venv/bin/python -m bench.duplicates --json     # one JSON line (for scripts)

Reads ``../shared/datasets/stackfaq/duplicate_pairs.tsv`` (5,625 pairs with the same intent,
5,625 with different intents) and the texts in ``queries.jsonl`` at run time (never copied
into the repository). Every text goes through the same path a ticket and a typed problem
take in the product (:func:`kb.ticket_similarity.embedding_text`, then the embedder), the
pair's cosine is compared with each threshold, and precision / recall / F1 are printed.

The set is balanced (half the pairs are duplicates) and its negatives are easy (questions
about other threads), while the product compares a typed problem with every recent open
ticket, of which few are the same problem. So besides the balanced precision the script
prints the false-positive rate and the precision *at a base rate* (``--base-rate``, 5 %:
one candidate in twenty is really the same problem), ``R*b / (R*b + FPR*(1-b))``. The
shipped rule (:data:`kb.duplicates.THRESHOLD`) is the lowest threshold, on a 0.01 grid,
whose precision at that base rate is at least ``--precision`` (0.90): a requester is only
told "colleagues reported this" when it is very likely true, and recall is the most that
allows. The best-F1 threshold is printed for comparison.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench._data import DATASETS  # noqa: E402

STACKFAQ = DATASETS / "stackfaq"


def load_pairs(folder: Path = STACKFAQ) -> tuple[dict[str, str], list[tuple[str, str, int]]]:
    """The texts by id and the labelled pairs (q1, q2, 1 = same intent)."""
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        texts = {row["_id"]: row["text"] for row in map(json.loads, fh)}
    with open(folder / "duplicate_pairs.tsv", newline="", encoding="utf-8") as fh:
        pairs = [(r["q1"], r["q2"], int(r["is_duplicate"])) for r in csv.DictReader(fh, delimiter="\t")]
    return texts, pairs


def pair_scores(embedder, texts: dict[str, str], pairs) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of every pair (as the product computes it) and the labels."""
    from kb.ticket_similarity import embedding_text

    ids = sorted({q for a, b, _ in pairs for q in (a, b)})
    index = {q: i for i, q in enumerate(ids)}
    matrix = np.asarray(embedder.encode([embedding_text(texts[q]) for q in ids], batch_size=64), dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1.0, norms)
    left = matrix[[index[a] for a, _, _ in pairs]]
    right = matrix[[index[b] for _, b, _ in pairs]]
    return np.einsum("ij,ij->i", left, right), np.array([y for _, _, y in pairs], dtype=np.int8)


def metrics_at(scores: np.ndarray, labels: np.ndarray, threshold: float, base_rate: float = 0.05) -> dict:
    predicted = scores >= threshold
    tp = int(np.sum(predicted & (labels == 1)))
    fp = int(np.sum(predicted & (labels == 0)))
    fn = int(np.sum(~predicted & (labels == 1)))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / int(np.sum(labels == 0)) if np.any(labels == 0) else 0.0
    hits = recall * base_rate + fpr * (1 - base_rate)
    at_base = recall * base_rate / hits if hits else 1.0
    return {"threshold": round(float(threshold), 2), "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(f1, 4), "fpr": round(fpr, 5), "precision_at_base_rate": round(at_base, 4),
            "tp": tp, "fp": fp, "fn": fn}


def sweep(scores, labels, base_rate: float = 0.05, lo: float = 0.10, hi: float = 0.95,
          step: float = 0.01) -> list[dict]:
    return [metrics_at(scores, labels, t, base_rate) for t in np.round(np.arange(lo, hi + 1e-9, step), 2)]


def choose(rows: list[dict], min_precision: float) -> tuple[dict, dict | None]:
    """(best F1, lowest threshold whose precision at the base rate is >= min_precision:
    the most recall that precision allows)."""
    best_f1 = max(rows, key=lambda r: (r["f1"], -r["threshold"]))
    precise = [r for r in rows if r["precision_at_base_rate"] >= min_precision]
    return best_f1, (min(precise, key=lambda r: r["threshold"]) if precise else None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="embedding model folder, or 'hash' (default: MiniLM)")
    parser.add_argument("--precision", type=float, default=0.90,
                        help="floor of the precision at the base rate (the shipped rule)")
    parser.add_argument("--base-rate", type=float, default=0.05,
                        help="share of candidates that are really the same problem")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = parser.parse_args(argv)

    from kb.duplicates import THRESHOLD
    from search import load_embedder

    texts, pairs = load_pairs()
    embedder = load_embedder(args.model)
    start = time.perf_counter()
    scores, labels = pair_scores(embedder, texts, pairs)
    seconds = time.perf_counter() - start
    rows = sweep(scores, labels, args.base_rate)
    best_f1, precise = choose(rows, args.precision)
    result = {"model": embedder.name, "pairs": len(pairs), "duplicates": int(labels.sum()),
              "texts": len({q for a, b, _ in pairs for q in (a, b)}), "encode_seconds": round(seconds, 1),
              "base_rate": args.base_rate, "best_f1": best_f1, "rule": precise,
              "shipped": metrics_at(scores, labels, THRESHOLD, args.base_rate)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['pairs']} pairs ({result['duplicates']} duplicates), {result['texts']} texts, "
          f"model {result['model']}, encoded in {result['encode_seconds']} s")
    print(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'FPR':>7} "
          f"{'precision@' + format(args.base_rate, '.0%'):>14}")
    for r in rows:
        if (round(r["threshold"] * 100) % 5 == 0 and r["threshold"] >= 0.3) or r in (best_f1, precise):
            print(f"{r['threshold']:>9.2f} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f} "
                  f"{r['fpr']:>7.4f} {r['precision_at_base_rate']:>14.3f}")
    print(f"best F1: {best_f1}")
    print(f"rule (lowest threshold with precision >= {args.precision:.2f} at a {args.base_rate:.0%} base rate): "
          f"{precise}")
    print(f"shipped (kb.duplicates.THRESHOLD = {THRESHOLD}): {result['shipped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

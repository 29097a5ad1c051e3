"""Quality of articles drafted from tickets, of "update article X" dedup and of recurring-problem
clustering, with the real all-MiniLM-L6-v2.

    .venv/bin/python -m bench.drafting_quality           # tables (about 2 minutes)
    .venv/bin/python -m bench.drafting_quality --json    # one JSON line

1. **Drafts** (demo data, ``kb/demo/cases.yaml``): every case/article pair is filed, worked
   and resolved through the services in a fresh database, then drafted with
   :func:`kb.drafting.build_draft`. The draft's Resolution section is compared with the known
   article's Resolution (ROUGE-L) and with the case's key steps (a key step is found when one
   draft step holds at least half of its content words in order: LCS recall >= 0.5). The
   baseline is what an agent would get by pasting the resolution note alone.
2. **Dedup**: for each paired case, is its article the best match above
   :data:`kb.draft_dedup.COVER_THRESHOLD` (proposed correctly)? For the same case with its
   article left out, and for the cases no article covers, is nothing proposed? Swept over
   thresholds, on the demo cases and on stackfaq (1,250 paraphrased questions against their
   125 threads: the same check with real, unseen text).
3. **Clustering** (:func:`kb.draft_batch.cluster_vectors`): stackfaq's 1,250 questions are
   125 groups of 10 paraphrases: pairwise precision/recall and adjusted Rand index per
   threshold; and on the demo history, whether the recurring problems come out as written.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench._data import DATASETS  # noqa: E402
from bench.draft_metrics import list_steps, rouge_l, step_recall  # noqa: E402

THRESHOLDS = [round(0.40 + 0.02 * i, 2) for i in range(21)]
CLUSTER_THRESHOLDS = [round(0.35 + 0.05 * i, 2) for i in range(8)]


def _app(tmp: Path):
    from portal import create_app

    return create_app({"TESTING": True, "WORKER": "off", "INSTANCE_PATH": str(tmp / "instance"),
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}", "INDEX_PATH": str(tmp / "index"),
                       "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False})


def _resolution(body: str) -> str:
    """The article's resolution section; for an article without one, its numbered steps."""
    from kb.draft_dedup import resolution_section

    where = resolution_section(body)
    if where is not None:
        return body[where[0]:where[1]].strip()
    return "\n".join(list_steps(body)) or body


# ------------------------------------------------------------------ 1 + 2: demo cases
def evaluate_cases(tmp: Path) -> dict:
    """Drafts and dedup scores for every demo case (a fresh database in ``tmp``)."""
    from kb import draft_batch, draft_dedup, drafting, indexing
    from kb.articles_models import Article
    from kb.demo import load_demo
    from kb.demo.cases import load_case, read_cases
    from kb.sla.models import seed_sla_defaults
    from kb.users import get_user_by_email
    from portal.extensions import db
    from portal.search_ext import engine, holder
    from sqlalchemy import select

    app = _app(tmp)
    rows = []
    with app.app_context():
        db.create_all()
        seed_sla_defaults(db.session)
        load_demo(db.session, cases=False)
        db.session.commit()
        indexing.reindex(db.session, engine(), commit=db.session.commit)
        embedder, eng = holder().embedder(), engine()
        lead = get_user_by_email(db.session, "lead@contoso.example")
        people_list, cases = read_cases()
        people = {p["email"]: p for p in people_list}
        started = time.perf_counter()
        for case in cases:
            ticket = load_case(db.session, case, people, embedder=embedder)
            db.session.commit()
            draft = drafting.build_draft(db.session, [ticket], embedder=embedder)
            hits = eng.query(draft_dedup.problem_text(draft), filters={"status": draft_dedup.LIVE_STATUSES},
                             limit=10, mode="semantic")
            gold = db.session.scalar(select(Article).where(Article.source_id == case.article)) if case.article else None
            gold_doc = f"article:{gold.id}" if gold else None
            scores = {h.id: h.score for h in hits}
            row = {"id": case.id, "paired": gold is not None, "lang": ticket.language or "en",
                   "top_is_gold": bool(hits) and hits[0].id == gold_doc, "gold": scores.get(gold_doc, 0.0),
                   "other": max((s for d, s in scores.items() if d != gold_doc), default=0.0),
                   "cluster": case.cluster}
            if gold is not None:
                steps = list_steps(draft_dedup.section(draft.body, "Resolution"))
                baseline = list_steps(ticket.resolution or "")
                row.update(rouge=rouge_l("\n".join(steps), _resolution(gold.body)),
                           rouge_base=rouge_l("\n".join(baseline), _resolution(gold.body)),
                           steps=step_recall(case.key_steps, steps), steps_base=step_recall(case.key_steps, baseline))
            rows.append(row)
        draft_seconds = time.perf_counter() - started
        by_title = {c.title: c.id for c in cases}
        found = {}
        for t in CLUSTER_THRESHOLDS:
            batch = draft_batch.recurring_problems(db.session, lead, embedder=embedder, threshold=t,
                                                   since=draft_batch.parse_since("30d"))
            found[t] = sorted(sorted(by_title[x.title] for x in cl.tickets) for cl in batch.clusters)
    gold_clusters = {}
    for case in cases:
        if case.cluster:
            gold_clusters.setdefault(case.cluster, []).append(case.id)
    return {"rows": rows, "draft_seconds": draft_seconds, "found_clusters": found,
            "gold_clusters": sorted(sorted(v) for v in gold_clusters.values())}


def dedup_sweep(rows: list[dict]) -> list[dict]:
    """Accuracy of the proposal at each threshold: positives (paired, article present), negatives
    (paired with the article left out: its best other score; and the cases without an article)."""
    out = []
    for t in THRESHOLDS:
        pos = [r for r in rows if r["paired"]]
        proposed_right = sum(r["top_is_gold"] and r["gold"] >= t for r in pos)
        wrong_article = sum((not r["top_is_gold"]) and r["other"] >= t for r in pos)
        negatives = [r["other"] for r in pos] + [max(r["gold"], r["other"]) for r in rows if not r["paired"]]
        quiet = sum(s < t for s in negatives)
        out.append({"threshold": t, "proposed": proposed_right / len(pos), "wrong_article": wrong_article / len(pos),
                    "quiet_when_new": quiet / len(negatives),
                    "accuracy": (proposed_right + quiet) / (len(pos) + len(negatives))})
    return out


# ------------------------------------------------------------------ 2 + 3: stackfaq
def stackfaq_scores(embedder, tmp: Path) -> list[tuple[float, float, bool]]:
    """Per question: (score of its own thread, best score of another, own thread ranked first)."""
    from search import Document, SearchEngine

    from bench._data import faq_docs

    queries = [json.loads(line) for line in open(DATASETS / "stackfaq" / "queries.jsonl", encoding="utf-8")]
    qrels = {}
    for line in open(DATASETS / "stackfaq" / "qrels" / "test.tsv", encoding="utf-8").read().splitlines()[1:]:
        qid, did, _score = line.split("\t")
        qrels[qid] = did
    with SearchEngine(tmp / "stackfaq", embedder) as eng:
        eng.index([Document(id=d["_id"], title=d.get("title", ""), body=d["text"]) for d in faq_docs()])
        out = []
        for q in queries:
            hits = eng.query(q["text"], limit=10, mode="semantic")
            gold = qrels[q["_id"]]
            scores = {h.id: h.score for h in hits}
            out.append((scores.get(gold, 0.0), max((s for d, s in scores.items() if d != gold), default=0.0),
                        bool(hits) and hits[0].id == gold))
    return out


def stackfaq_sweep(scores) -> list[dict]:
    out = []
    for t in THRESHOLDS:
        proposed = sum(first and g >= t for g, _o, first in scores) / len(scores)
        quiet = sum(o < t for _g, o, _f in scores) / len(scores)
        out.append({"threshold": t, "proposed": proposed, "quiet_when_new": quiet, "accuracy": (proposed + quiet) / 2})
    return out


def clustering_sweep(embedder) -> list[dict]:
    from sklearn.metrics import adjusted_rand_score

    from kb.draft_batch import cluster_vectors
    from kb.ticket_similarity import embedding_text

    queries = [json.loads(line) for line in open(DATASETS / "stackfaq" / "queries.jsonl", encoding="utf-8")]
    qrels = dict(line.split("\t")[:2] for line in
                 open(DATASETS / "stackfaq" / "qrels" / "test.tsv", encoding="utf-8").read().splitlines()[1:])
    vectors = np.asarray(embedder.encode([embedding_text(q["text"]) for q in queries]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    truth = np.array([qrels[q["_id"]] for q in queries])
    same = truth[:, None] == truth[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    out = []
    for t in CLUSTER_THRESHOLDS:
        labels = np.empty(len(queries), dtype=np.int64)
        for n, group in enumerate(cluster_vectors(vectors, t)):
            labels[group] = n
        together = labels[:, None] == labels[None, :]
        tp = int((together & same & upper).sum())
        p = tp / max(int((together & upper).sum()), 1)
        r = tp / max(int((same & upper).sum()), 1)
        out.append({"threshold": t, "clusters": int(labels.max() + 1), "pair_precision": p, "pair_recall": r,
                    "pair_f1": 2 * p * r / (p + r) if p + r else 0.0, "ari": adjusted_rand_score(truth, labels)})
    return out


def summarise(rows: list[dict]) -> dict:
    paired = [r for r in rows if r["paired"]]
    mean = lambda key, sub: statistics.mean(r[key][sub] for r in paired)  # noqa: E731
    return {"cases": len(rows), "paired": len(paired),
            "step_recall": mean("steps", "recall"), "step_coverage": mean("steps", "coverage"),
            "step_recall_baseline": mean("steps_base", "recall"), "rouge_l_f": mean("rouge", "f"),
            "rouge_l_r": mean("rouge", "r"), "rouge_l_f_baseline": mean("rouge_base", "f"),
            "rouge_l_r_baseline": mean("rouge_base", "r")}


def main() -> None:
    from kb.draft_batch import CLUSTER_THRESHOLD
    from kb.draft_dedup import COVER_THRESHOLD
    from search import load_embedder

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--no-stackfaq", action="store_true", help="demo cases only (faster)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = evaluate_cases(tmp)
        result = {"summary": summarise(cases["rows"]), "dedup": dedup_sweep(cases["rows"]),
                  "draft_seconds": cases["draft_seconds"], "found_clusters": cases["found_clusters"],
                  "gold_clusters": cases["gold_clusters"], "cover_threshold": COVER_THRESHOLD,
                  "cluster_threshold": CLUSTER_THRESHOLD}
        if not args.no_stackfaq:
            embedder = load_embedder(None)
            result["stackfaq_dedup"] = stackfaq_sweep(stackfaq_scores(embedder, tmp))
            result["clustering"] = clustering_sweep(embedder)
    if args.json:
        print(json.dumps(result))
        return
    s = result["summary"]
    print(f"Drafts: {s['paired']} case/article pairs ({s['cases']} cases), {result['draft_seconds']:.1f} s to file, "
          "work and draft them all")
    print(f"  key-step recall      {s['step_recall']:.3f}  (baseline: the resolution note alone {s['step_recall_baseline']:.3f})")
    print(f"  key-step coverage    {s['step_coverage']:.3f}")
    print(f"  ROUGE-L F1 / recall  {s['rouge_l_f']:.3f} / {s['rouge_l_r']:.3f}  "
          f"(baseline {s['rouge_l_f_baseline']:.3f} / {s['rouge_l_r_baseline']:.3f})")
    for name, sweep in (("demo cases", result["dedup"]), ("stackfaq", result.get("stackfaq_dedup"))):
        if not sweep:
            continue
        print(f"Dedup on {name}: threshold, article proposed correctly, nothing proposed when new, accuracy")
        for row in sweep:
            mark = "  <- shipped" if abs(row["threshold"] - COVER_THRESHOLD) < 1e-9 else ""
            print(f"  {row['threshold']:.2f}  {row['proposed']:.3f}  {row['quiet_when_new']:.3f}  "
                  f"{row['accuracy']:.3f}{mark}")
    if result.get("clustering"):
        print("Clustering stackfaq questions (125 groups): threshold, clusters, pair precision, recall, F1, ARI")
        for row in result["clustering"]:
            mark = "  <- shipped" if abs(row["threshold"] - CLUSTER_THRESHOLD) < 1e-9 else ""
            print(f"  {row['threshold']:.2f}  {row['clusters']:4d}  {row['pair_precision']:.3f}  "
                  f"{row['pair_recall']:.3f}  {row['pair_f1']:.3f}  {row['ari']:.3f}{mark}")
    print(f"Recurring problems in the demo history, written as {result['gold_clusters']}")
    for t, found in result["found_clusters"].items():
        mark = "  <- shipped" if abs(t - CLUSTER_THRESHOLD) < 1e-9 else ""
        verdict = "as written" if found == result["gold_clusters"] else found
        print(f"  {t:.2f}  {verdict}{mark}")


if __name__ == "__main__":
    main()

"""Realistic article text for benchmarks, read at run time from ../shared/datasets (never copied here)."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def ticket_rows() -> list[dict]:
    with open(DATASETS / "itsm-tickets" / "tickets.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def faq_docs() -> list[dict]:
    with open(DATASETS / "stackfaq" / "corpus.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def faq_queries() -> list[str]:
    with open(DATASETS / "stackfaq" / "queries.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def articles(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """n (title, body) pairs: stackfaq threads and service-desk incidents, combined into
    article-sized bodies (a few incidents of one kind make one troubleshooting article)."""
    rng = random.Random(seed)
    tickets = [r for r in ticket_rows() if len(r["description"].split()) >= 5]
    faqs = faq_docs()
    out = [(d["title"], d["text"]) for d in faqs]
    while len(out) < n:
        main = rng.choice(tickets)
        extra = rng.sample(tickets, 3)
        body = "\n\n".join([main["description"].strip()] + [e["description"].strip() for e in extra])
        out.append((main["short_description"].strip()[:190] or "Service desk note", body[:6000]))
    return out[:n]

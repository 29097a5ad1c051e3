"""`flask search reindex|verify|work|eval`: the index's maintenance commands."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from kb import indexing
from portal.cli.progress import progress_bar
from portal.extensions import db
from flask import current_app

from portal.search_ext import engine, holder

group = AppGroup("search", help="Search index: rebuild, check, process jobs, evaluate.")


@group.command("reindex")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming an interrupted rebuild.")
def reindex(fresh: bool) -> None:
    """Rebuild the whole index from the database (resumable; search keeps answering meanwhile)."""
    n = indexing.reindex(db.session, holder().engine_for_rebuild(), resume=not fresh,
                         progress=progress_bar("Indexing articles"), commit=db.session.commit)
    click.echo(f"Indexed {n} articles.")


@group.command("verify")
@click.option("--repair", is_flag=True, help="Enqueue index jobs for every drifted article and apply them.")
def verify(repair: bool) -> None:
    """Report drift between the database and the index; exit 1 if there is any."""
    drift = indexing.verify(db.session, engine())
    click.echo(f"missing: {len(drift.missing)}  stale: {len(drift.stale)}  extra: {len(drift.extra)}  "
               f"pending jobs: {drift.pending_jobs}")
    for label, items in (("missing", drift.missing), ("stale", drift.stale), ("extra", drift.extra)):
        if items:
            click.echo(f"  {label}: {', '.join(map(str, items[:20]))}{' ...' if len(items) > 20 else ''}")
    if drift.clean:
        click.echo("Index is consistent with the database.")
        return
    if repair:
        n = indexing.repair(db.session, drift)
        db.session.commit()
        while indexing.process_jobs(db.session, engine()):
            db.session.commit()
        click.echo(f"Repaired {n} articles.")
        return
    click.echo("Run `flask search verify --repair` (or `flask search reindex`) to fix it.")
    sys.exit(1)


@group.command("work")
@click.option("--once", is_flag=True, help="Process what is pending, then exit.")
def work(once: bool) -> None:
    """Apply pending index jobs (the embedded default also does this in-process)."""
    import time

    total = 0
    while True:
        n = indexing.process_jobs(db.session, engine())
        db.session.commit()
        total += n
        if not n:
            if once:
                break
            time.sleep(2)
    click.echo(f"Processed {total} jobs.")


@group.command("eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--mode", type=click.Choice(["keyword", "semantic", "hybrid"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--backend", type=click.Choice(["local", "postgresql"]), default=None,
              help="Search backend to evaluate (default: the configured HELPDESK_SEARCH_BACKEND).")
@click.option("--embedder", "embedder_spec", default=None, metavar="SPEC",
              help='Embedder to evaluate: "int8", "hash", a model folder, "int8:FOLDER" '
                   "(default: the configured HELPDESK_EMBEDDING_MODEL).")
def evaluate(dataset_dir: str, mode: str, as_json: bool, backend: str | None, embedder_spec: str | None) -> None:
    """Evaluate retrieval on a BEIR-layout data set (corpus.jsonl, queries.jsonl, qrels/test.tsv).

    The corpus goes into a temporary index of its own (a folder, or PostgreSQL tables that are
    dropped afterwards); the live index is not touched."""
    from search.evaluation import run_eval

    from portal.search_ext import libpq_url

    h = holder()
    cfg = current_app.config
    backend = backend or cfg["SEARCH_BACKEND"]
    url = cfg["SEARCH_DATABASE_URL"] or cfg["SQLALCHEMY_DATABASE_URI"]
    if backend == "postgresql" and not url.startswith("postgresql"):
        raise click.ClickException("--backend postgresql needs HELPDESK_SEARCH_DATABASE_URL or "
                                   "HELPDESK_DATABASE_URL set to a PostgreSQL database with pgvector.")
    if mode == "keyword":
        embedder = _keyword_embedder()
    elif embedder_spec is not None:
        from search import load_embedder
        embedder = load_embedder(embedder_spec or None)
    else:
        embedder = h.embedder()
    try:
        result = run_eval(dataset_dir, mode=mode, embedder=embedder, config=h.config(),
                          dsn=libpq_url(url) if backend == "postgresql" else None)
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"Cannot evaluate {dataset_dir}: {type(exc).__name__}: {exc}. "
                                   "Expected corpus.jsonl, queries.jsonl and qrels/test.tsv (BEIR layout).") from None
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"backend    {result['backend']}")
    click.echo(f"mode       {result['mode']}")
    if mode != "keyword":
        click.echo(f"embedder   {embedder.name}")
    for key in ("ndcg@10", "recall@5", "recall@10", "mrr@10"):
        click.echo(f"{key:10} {result[key]:.4f}")
    click.echo(f"queries    {result['queries']}")
    click.echo(f"latency    p50 {result['latency_ms']['p50']:.1f} ms, p95 {result['latency_ms']['p95']:.1f} ms")


def _keyword_embedder():
    """Keyword mode never embeds; a hash embedder keeps the run fast and model-free."""
    from search import HashEmbedder
    return HashEmbedder()

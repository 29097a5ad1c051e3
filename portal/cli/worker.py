"""``flask worker rq``: an RQ worker on ``QUEUE_NAME`` with the beat (scale-out mode).

It runs jobs in its own process (RQ's SimpleWorker, no fork per job), so the search
engine and the embedding model load once and this process stays their one writer; run
more of them for throughput. ``--with-scheduler`` is RQ's: it moves retries whose delay
has passed back onto the queue (one process holds its lock). The beat enqueues the
periodic tasks, each once per period across every worker (portal.jobs.beat).
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from redis.exceptions import RedisError

group = AppGroup("worker", help="Background workers (scale-out mode: HELPDESK_WORKER=rq).")


def _connection_or_fail(app):
    from portal.jobs.connection import describe_url, worker_connection

    if app.config["WORKER"] != "rq":
        raise click.ClickException(
            f"HELPDESK_WORKER is {app.config['WORKER']!r}, not 'rq': this app does not put jobs on Redis, so an "
            "RQ worker would wait for nothing. Set HELPDESK_WORKER=rq and HELPDESK_REDIS_URL on the web servers "
            "and the workers alike.")
    conn = worker_connection(app)
    try:
        conn.ping()
    except RedisError as exc:
        raise click.ClickException(
            f"Redis is unreachable at {describe_url(app.config['REDIS_URL'])} ({exc}). Start Redis or fix "
            "HELPDESK_REDIS_URL.") from None
    return conn


@group.command("rq")
@click.option("--burst", is_flag=True,
              help="Enqueue the due periodic tasks once, work until the queue is empty, then exit.")
@click.option("--beat/--no-beat", default=True, show_default=True,
              help="Enqueue the periodic tasks from this process (safe on every worker: each runs once).")
@click.option("--name", default=None, help="Worker name (default: host, pid and a random suffix).")
def rq_worker(burst: bool, beat: bool, name: str | None) -> None:
    """Run an RQ worker on HELPDESK_QUEUE_NAME: index drains and the periodic tasks."""
    from rq import SimpleWorker

    from portal.jobs.beat import Beat
    from portal.jobs.connection import queue_for

    app = current_app._get_current_object()
    conn = _connection_or_fail(app)
    queue = queue_for(app, conn)
    worker = SimpleWorker([queue], connection=conn, name=name)
    click.echo(f"RQ worker {worker.name} on queue {queue.name!r}{' (burst)' if burst else ''}"
               f"{', with the beat' if beat else ''}")
    if burst:
        if beat:
            fired = Beat(app, name=worker.name).tick()
            if fired:
                click.echo(f"enqueued: {', '.join(fired)}")
        worker.work(burst=True, with_scheduler=True)
        return
    stop = None
    if beat:
        _thread, stop = Beat(app, name=worker.name).start()
    try:
        worker.work(with_scheduler=True)
    finally:
        if stop is not None:
            stop.set()

"""The app's Redis connection, its RQ queue, our own key names and the retry policy.

One connection per app and URL (rebuilt if ``REDIS_URL`` changes), with short timeouts:
an after-commit trigger must never hang a request when Redis is slow or gone.
"""
from __future__ import annotations

import threading

from flask import Flask
from redis import Redis
from rq import Queue, Retry

CONNECT_TIMEOUT = 1.0  # seconds; a dead Redis costs a request at most this (see trigger's back-off)
SOCKET_TIMEOUT = 5.0
# Delays between RQ's retries of a failed job; the last one repeats for further retries.
# (Tests set JOB_RETRY_INTERVALS=[0] in the app config to retry at once.)
RETRY_INTERVALS = [10, 60, 300]

_lock = threading.Lock()


def redis_for(app: Flask) -> Redis:
    """The shared client for this app (thread-safe: redis-py pools its connections)."""
    url = app.config["REDIS_URL"]
    cached = app.extensions.get("helpdesk_redis")
    if cached is None or cached[0] != url:
        with _lock:
            cached = app.extensions.get("helpdesk_redis")
            if cached is None or cached[0] != url:
                client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT,
                                        health_check_interval=30)
                cached = (url, client)
                app.extensions["helpdesk_redis"] = cached
    return cached[1]


def worker_connection(app: Flask) -> Redis:
    """A separate client for an RQ worker: RQ raises its socket timeout above the blocking
    dequeue, which the request-side client must not inherit."""
    return Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=CONNECT_TIMEOUT, health_check_interval=30)


def queue_for(app: Flask, connection: Redis | None = None) -> Queue:
    return Queue(app.config["QUEUE_NAME"], connection=connection or redis_for(app))


def key(app: Flask, *parts: str) -> str:
    """Our keys (triggers, due-keys) live under the queue name, so two deployments sharing a
    Redis with different QUEUE_NAMEs never see each other's."""
    return ":".join((app.config["QUEUE_NAME"], *parts))


def retry_for(app: Flask) -> Retry | None:
    retries = int(app.config.get("JOB_RETRIES", 3))
    if retries < 1:
        return None
    return Retry(max=retries, interval=list(app.config.get("JOB_RETRY_INTERVALS") or RETRY_INTERVALS))


def job_options(app: Flask) -> dict:
    """What every job of ours is enqueued with: the retry policy, and its size in ``meta``
    (RQ counts down ``retries_left``; the dead-letter page shows how many were made)."""
    retry = retry_for(app)
    return {"retry": retry, "meta": {"max_retries": retry.max if retry else 0}}


def retries_made(job) -> int:
    return max(int((job.meta or {}).get("max_retries", 0)) - int(job.retries_left or 0), 0)


def describe_url(url: str) -> str:
    """The Redis URL without a password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

"""gunicorn settings: `gunicorn --config gunicorn.conf.py wsgi:app` (make run; docs/deploy.md).

The app, and the embedding model inside it, is loaded once in the master before it forks
(``preload_app``), with one warm-up encode, so the workers share the model's weights as
copy-on-write pages instead of each loading its own copy; each worker then gets its own
database connections and a bounded number of torch threads.

The embedded default (HELPDESK_SEARCH_BACKEND=local) runs one worker process with threads:
the index on local disk has a single writer. With the shared PostgreSQL search
(HELPDESK_SEARCH_BACKEND=postgresql) it runs 2 x cores + 1 workers, at most 8.

Environment (all optional):
  HELPDESK_WEB_BIND      address to listen on (default 127.0.0.1:8000; --bind wins)
  HELPDESK_WEB_WORKERS   worker processes (or WEB_CONCURRENCY); default as above
  HELPDESK_WEB_THREADS   threads per worker (default 8 with one worker, else 4)
  HELPDESK_WEB_TIMEOUT   seconds before a silent worker is killed and replaced (default 60)
  HELPDESK_WEB_PRELOAD   1 (default) = load the app and model in the master; 0 = in each worker
  HELPDESK_TORCH_THREADS torch threads per worker (default 1: the workers are the parallelism)
  HELPDESK_ACCESS_LOG    gunicorn's own access log ("-" = stdout, or a file; default off: the
                         app logs one portal.request line per request with its request id)
  HELPDESK_LOG_FORMAT    json = gunicorn's lines (and the access log) in the app's JSON format
"""
from __future__ import annotations

import logging
import os
import sys
import time

from dotenv import load_dotenv

load_dotenv()  # the same .env as wsgi.py, read before the settings below look at the environment
# Tokenizers' Rust thread pool does not survive fork; the workers encode one query at a time anyway.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise SystemExit(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _default_workers() -> int:
    if os.environ.get("HELPDESK_SEARCH_BACKEND", "local") != "postgresql":
        return 1
    return min(2 * (os.cpu_count() or 1) + 1, 8)


bind = [os.environ.get("HELPDESK_WEB_BIND", "127.0.0.1:8000")]
workers = _int_env("HELPDESK_WEB_WORKERS", _int_env("WEB_CONCURRENCY", _default_workers()))
threads = _int_env("HELPDESK_WEB_THREADS", 8 if workers == 1 else 4)
worker_class = "gthread"
preload_app = os.environ.get("HELPDESK_WEB_PRELOAD", "1").strip().lower() not in {"0", "false", "no", "off"}
timeout = _int_env("HELPDESK_WEB_TIMEOUT", 60)
graceful_timeout = 30   # SIGTERM: finish the requests in flight for up to 30 s, then stop
keepalive = 5           # behind nginx with keepalive to the upstream
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # the heartbeat file in memory, not on a possibly slow disk
control_socket_disable = True    # no ~/.gunicorn/gunicorn.ctl shared by every instance on the host
errorlog = "-"
accesslog = os.environ.get("HELPDESK_ACCESS_LOG") or None
# No query string (%(q)s, %(r)s): it can carry tokens. The request id links it to the app's lines.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
loglevel = os.environ.get("HELPDESK_LOG_LEVEL", "INFO").lower()

if os.environ.get("HELPDESK_LOG_FORMAT") == "json":
    _level = os.environ.get("HELPDESK_LOG_LEVEL", "INFO")
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": _level, "handlers": []},  # the app installs its own (portal.logs)
        "loggers": {
            "gunicorn.error": {"level": _level, "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if accesslog else "WARNING",
                                "handlers": ["access"] if accesslog else [], "propagate": False},
        },
        "handlers": {
            "error": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            **({"access": {"class": "logging.FileHandler", "formatter": "access", "filename": accesslog}}
               if accesslog and accesslog != "-" else
               {"access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"}}),
        },
        "formatters": {
            "json": {"()": "portal.logs.JsonLogFormatter"},
            "access": {"()": "portal.logs.GunicornAccessFormatter"},
        },
    }


def _flask_app(server_or_worker):
    """The Flask app gunicorn loaded (wsgi:app); with preload_app it is the master's own.
    The hooks reach the app's parts through ``app.extensions`` (nothing but wsgi.py and the
    tests imports ``portal``: tests/test_architecture.py)."""
    return server_or_worker.app.wsgi()


def _search(app):
    """portal.search_ext.holder() for this app: the search engine and its embedding model."""
    return app.extensions["helpdesk_search"]


def when_ready(server):
    """In the master, after the app is loaded and before any worker forks: load the model
    and encode once, so its weights (and torch's lazily built state) sit in pages every
    worker shares. Torch uses one thread here, so no OpenMP thread pool exists to be
    inherited half-alive by the children (the classic fork deadlock)."""
    if not server.cfg.preload_app:
        server.log.info("preload off: each worker loads the embedding model on first use")
        return
    app = _flask_app(server)
    started = time.perf_counter()
    if not str(app.config.get("EMBEDDING_MODEL") or "").startswith("hash"):  # the hash embedder needs no torch
        import torch

        torch.set_num_threads(1)  # before the model loads, so the master never starts a thread pool
    with app.app_context():
        embedder = _search(app).embedder()
        embedder.encode(["warm up the model before fork"])
    app.extensions["helpdesk_preloaded_embedder"] = embedder
    server.log.info("embedding model %s loaded in the master (pid %d) before fork in %.1f s",
                    embedder.name, os.getpid(), time.perf_counter() - started)


def post_fork(server, worker):
    """In each new worker: its own database connections (sockets inherited from the master
    must not be shared) and its own torch thread count."""
    threads_per_worker = str(_int_env("HELPDESK_TORCH_THREADS", 1))
    os.environ["OMP_NUM_THREADS"] = threads_per_worker  # for a torch imported later (preload off)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads_per_worker))
    if not server.cfg.preload_app:
        return
    app = _flask_app(server)
    with app.app_context():
        for engine in app.extensions["sqlalchemy"].engines.values():
            engine.dispose(close=False)  # forget the master's pool without closing its sockets
        preloaded = app.extensions.get("helpdesk_preloaded_embedder")
        if preloaded is not None and _search(app).embedder() is preloaded:
            worker.log.info("worker %d uses the embedding model loaded in the master", os.getpid())


def worker_int(worker):
    """Ctrl-C / SIGINT on a worker: say so (SIGTERM, the graceful stop, needs no hook)."""
    logging.getLogger("gunicorn.error").info("worker %d interrupted", os.getpid())

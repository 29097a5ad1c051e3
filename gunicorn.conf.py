"""gunicorn settings for the embedded default: one process, threads, in-process index worker.

One worker process, because the embedded default keeps the search index on
local disk with one writer. More workers belong to the scale-out set-up.
"""
import os

workers = int(os.environ.get("HELPDESK_WEB_WORKERS", "1"))
threads = int(os.environ.get("HELPDESK_WEB_THREADS", "8"))
timeout = 60
accesslog = "-"
errorlog = "-"

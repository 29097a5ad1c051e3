"""Jobs and schedules on Redis through RQ (config ``WORKER=rq``), for the scale-out mode.

The database job table (``kb.jobs``) stays the source of truth for index updates: a change
writes its job row in its own transaction, and after the commit a hook here only *triggers*
a drain on the RQ queue (deduplicated by a short Redis key). A commit made while Redis is
down therefore loses nothing; the beat re-triggers draining while rows wait.

The periodic tasks (SLA pass, intake sweep, reviews, outbox, IMAP, the drain re-trigger) are
enqueued by a small beat in every ``flask worker rq`` process; a due-key per task
(``SET NX PX <period>``) decides which process enqueues it, so each runs once per period
across the cluster. The in-process thread worker (``WORKER=thread``) does not use any of this.

- :mod:`portal.jobs.connection`: the Redis connection, queue, keys and retry policy
- :mod:`portal.jobs.tasks`: the functions RQ runs (ids and names in, never objects)
- :mod:`portal.jobs.trigger`: the after-commit hook and the deduplicated drain trigger
- :mod:`portal.jobs.beat`: the periodic tasks, once per period across processes
- :mod:`portal.jobs.views`: ``/admin/jobs``, the dead letters
"""

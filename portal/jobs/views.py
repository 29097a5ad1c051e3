"""``/admin/jobs``: the dead letters. RQ's failed jobs (function, arguments, when, the last
line of the error, retries) with "retry" and "delete", and the index jobs in the database
whose last attempt failed, with "retry". Nested in the admin blueprint (admins only)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError

from kb import permissions
from kb.pagination import Paged
from portal.extensions import db
from portal.security import actor

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
PER_PAGE = 25
_JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass
class ListPage(Paged):
    items: list
    page: int
    per_page: int
    total: int


@dataclass
class FailedJob:
    id: str
    function: str
    arguments: str
    failed_at: object
    error: str
    retries: int


@bp.before_request
def only_job_admins():
    who = actor()
    if not permissions.can_manage_jobs(who):
        abort(404 if who is None else 403)


def _rq_enabled() -> bool:
    return current_app.config["WORKER"] == "rq"


def _registry():
    from portal.jobs.connection import queue_for

    return queue_for(current_app).failed_job_registry


def _last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


def _arguments(job) -> str:
    parts = [repr(a) for a in (job.args or ())] + [f"{k}={v!r}" for k, v in (job.kwargs or {}).items()]
    return ", ".join(parts)[:300]


def _failed_job(job) -> FailedJob:
    from rq.results import Result

    from portal.jobs.connection import retries_made

    failed = next((r for r in job.results() if r.type == Result.Type.FAILED), None)  # newest first
    return FailedJob(id=job.id, function=job.func_name or "?", arguments=_arguments(job),
                     failed_at=job.ended_at or (failed.created_at if failed else None),
                     error=_last_line(failed.exc_string if failed else None), retries=retries_made(job))


def _failed_page(page: int) -> ListPage:
    from rq.job import Job

    registry = _registry()
    total = registry.count
    start = (page - 1) * PER_PAGE
    ids = registry.get_job_ids(start, start + PER_PAGE - 1, desc=True)  # the newest failure first
    jobs = [j for j in Job.fetch_many(ids, connection=registry.connection) if j is not None]
    return ListPage([_failed_job(j) for j in jobs], page, PER_PAGE, total)


def _index_page(page: int) -> ListPage:
    from kb.indexing import failed_index_jobs

    rows, total = failed_index_jobs(db.session, page=page, per_page=PER_PAGE)
    return ListPage(rows, page, PER_PAGE, total)


@bp.get("")
def index():
    from kb.jobs import MAX_ATTEMPTS

    show = "index" if request.args.get("show") == "index" or not _rq_enabled() else "queue"
    page = max(request.args.get("page", 1, type=int), 1)
    failed, redis_error = None, None
    index_jobs = _index_page(page if show == "index" else 1)
    if _rq_enabled():
        try:
            failed = _failed_page(page if show == "queue" else 1)
        except RedisError as exc:
            redis_error = str(exc)
    return render_template("admin/jobs.html", show=show, failed=failed, index_jobs=index_jobs,
                           redis_error=redis_error, rq_enabled=_rq_enabled(), max_attempts=MAX_ATTEMPTS,
                           queue_name=current_app.config["QUEUE_NAME"])


def _back(show: str = "queue"):
    return redirect(url_for("admin.jobs.index", show=show, page=request.form.get("page", 1, type=int)))


def _valid_id(job_id: str) -> str:
    if not _rq_enabled() or not _JOB_ID.fullmatch(job_id):
        abort(404)
    return job_id


@bp.post("/<job_id>/retry")
def retry(job_id: str):
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    try:
        _registry().requeue(_valid_id(job_id))
    except (InvalidJobOperation, NoSuchJobError):
        flash(_("This job is no longer in the failed list."), "error")
    except RedisError as exc:
        flash(_("The queue is unreachable: %(error)s", error=str(exc)), "error")
    else:
        flash(_("The job is back on the queue."), "success")
    return _back()


@bp.post("/<job_id>/delete")
def delete(job_id: str):
    from rq.exceptions import NoSuchJobError

    try:
        registry = _registry()
        removed = registry.remove(_valid_id(job_id), delete_job=True)
    except NoSuchJobError:
        removed = _registry().remove(job_id)
    except RedisError as exc:
        flash(_("The queue is unreachable: %(error)s", error=str(exc)), "error")
        return _back()
    flash(_("The job was deleted.") if removed else _("This job is no longer in the failed list."),
          "success" if removed else "error")
    return _back()


@bp.post("/index/<int:job_id>/retry")
def retry_index(job_id: int):
    from kb.indexing import retry_index_job

    if retry_index_job(db.session, job_id):
        db.session.commit()
        if _rq_enabled():
            from portal.jobs.trigger import trigger_after_commit

            trigger_after_commit(current_app._get_current_object())
        flash(_("The index job will be tried again shortly."), "success")
    else:
        db.session.rollback()
        flash(_("This job is no longer waiting."), "error")
    return _back("index")

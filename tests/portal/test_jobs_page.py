"""The admins' jobs page on a real Redis (WORKER=rq): failed jobs retried then dead-lettered,
retried or deleted by an admin, failed index jobs, permissions and the Chinese page."""
from __future__ import annotations

from rq.job import Job

from kb import jobs
from portal.jobs.connection import queue_for
from portal.jobs.tasks import run_periodic
from portal.search_ext import holder
from tests.conftest import csrf_token_from
from tests.portal.rq_app import app, queue_name, redis_conn, titles, work  # noqa: F401 (fixtures)


def _restart_with_model(app, model: str) -> None:
    """What restarting the worker with another EMBEDDING_MODEL does: a new search holder."""
    from portal.search_ext import SearchHolder

    app.extensions["helpdesk_search"].close()
    app.config["EMBEDDING_MODEL"] = model
    app.extensions["helpdesk_search"] = SearchHolder(app)


def test_a_failing_job_is_retried_then_dead_lettered_and_retried_by_an_admin(app, session, make_article,
                                                                             make_user, login, client):
    holder().engine  # the index, built with the "hash" model
    _restart_with_model(app, "hash-64")  # a real failure: the index was built by another model
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    work(app)
    q = queue_for(app)
    assert q.count == 0
    [job_id] = q.failed_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=q.connection)
    assert job.retries_left == 0 and job.meta["max_retries"] == app.config["JOB_RETRIES"] == 3
    assert len(jobs.pending(session)) == 1  # still waiting in the database

    login(make_user("admin"))
    app.config["WTF_CSRF_ENABLED"] = True  # the buttons post with the CSRF token
    page = client.get("/admin/jobs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "portal.jobs.tasks.drain_index" in html
    assert "IndexMismatchError" in html and "reindex" in html  # the last line of the error
    assert f"<td>{app.config['JOB_RETRIES']}</td>" in html
    assert f"/admin/jobs/{job_id}/retry" in html and f"/admin/jobs/{job_id}/delete" in html

    assert client.post(f"/admin/jobs/{job_id}/retry").status_code == 400  # no CSRF token
    _restart_with_model(app, "hash")  # the cause is gone
    resp = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf_token_from(html)})
    assert resp.status_code == 302
    assert q.failed_job_registry.count == 0 and q.count == 1
    work(app)
    assert q.failed_job_registry.count == 0
    session.expire_all()
    assert jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]
    assert "No failed jobs on the queue." in client.get("/admin/jobs").get_data(as_text=True)


def test_admin_deletes_a_dead_letter_and_pages_through_them(app, make_user, login, client):
    q = queue_for(app)
    for _ in range(27):
        q.enqueue(run_periodic, "no-such-task")  # fails at once, no retries
    work(app)
    assert q.failed_job_registry.count == 27
    login(make_user("admin"))
    first = client.get("/admin/jobs").get_data(as_text=True)
    assert "Page 1 of 2" in first and "no-such-task" in first and "ValueError: unknown periodic task" in first
    second = client.get("/admin/jobs?show=queue&page=2").get_data(as_text=True)
    assert second.count("/delete\"") == 2
    job_id = q.failed_job_registry.get_job_ids()[0]
    assert client.post(f"/admin/jobs/{job_id}/delete").status_code == 302
    assert q.failed_job_registry.count == 26
    assert Job.exists(job_id, connection=q.connection) is False
    assert client.post("/admin/jobs/no-such-job/retry", follow_redirects=True).status_code == 200


def test_failed_index_jobs_are_listed_and_can_be_retried(app, session, make_article, make_user, login, client):
    make_article(title="Docking station not detected", body="Update the dock firmware.")
    [row] = jobs.pending(session)
    row.attempts, row.last_error = jobs.MAX_ATTEMPTS, "OSError: disk full"
    session.commit()
    work(app)  # the triggered drain finds nothing it may still try
    login(make_user("admin"))
    html = client.get("/admin/jobs?show=index").get_data(as_text=True)
    assert "OSError: disk full" in html and "Given up" in html
    assert client.post(f"/admin/jobs/index/{row.id}/retry").status_code == 302
    assert queue_for(app).count == 1  # the retry triggers a drain
    work(app)
    session.expire_all()
    assert jobs.failed(session) == [] and jobs.pending(session) == []
    assert titles(session, "dock firmware")[:1] == ["Docking station not detected"]
    assert "No index job has failed." in client.get("/admin/jobs?show=index").get_data(as_text=True)


def test_only_admins_see_the_jobs(app, client, make_user, login):
    assert client.get("/admin/jobs").status_code == 404  # anonymous: not advertised
    login(make_user("lead"))
    assert client.get("/admin/jobs").status_code == 403
    assert client.post("/admin/jobs/abc/retry").status_code == 403
    assert client.post("/admin/jobs/abc/delete").status_code == 403
    assert client.post("/admin/jobs/index/1/retry").status_code == 403


def test_the_jobs_page_is_linked_for_admins(app, client, make_user, login):
    login(make_user("admin"))
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert 'href="/admin/jobs"' in html
    assert "No failed jobs on the queue." in html


def test_the_jobs_page_in_chinese_and_without_the_queue(app, client, make_user, login):
    login(make_user("admin", locale="zh"))
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "后台任务" in html and "队列中没有失败的任务。" in html
    app.config["WORKER"] = "thread"  # the embedded default: only the database's index jobs
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert "没有失败的索引任务。" in html and "失败的队列任务" not in html
    assert client.post("/admin/jobs/abc/retry").status_code == 404

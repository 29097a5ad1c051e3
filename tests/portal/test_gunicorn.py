"""gunicorn.conf.py for real: a master that loads the app and the model once before fork,
workers that answer, JSON logs, a graceful stop. Each test starts gunicorn on loopback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, port: int, model: str, workers: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update({
        "HELPDESK_INSTANCE_PATH": str(tmp_path / "instance"), "HELPDESK_EMBEDDING_MODEL": model,
        "HELPDESK_SECRET_KEY": "gunicorn-test", "HELPDESK_WORKER": "off", "HELPDESK_LOG_FORMAT": "json",
        "HELPDESK_WEB_WORKERS": str(workers), "HELPDESK_WEB_BIND": f"127.0.0.1:{port}",
        "HELPDESK_SUGGEST_RATE_LIMIT": "10000 per minute", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    })
    env.update(extra)
    return env


def _prepare(env: dict) -> None:
    """The documented first deployment: migrations once, then the index once."""
    for args in (["db", "upgrade"], ["search", "reindex"]):
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=300)


def _get(url: str, timeout: float = 30):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


class Server:
    def __init__(self, tmp_path: Path, env: dict, workers: int):
        self.log = tmp_path / "gunicorn.log"
        self.workers = workers
        self.base = "http://" + env["HELPDESK_WEB_BIND"]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def worker_pids(self) -> set[int]:
        return {r["pid"] for r in _records(self.log) if r["message"].startswith("Booting worker")}

    def wait_until_every_worker_answers(self, path: str, deadline: float = 120) -> dict[int, int]:
        """Ask until each worker has answered at least once (new connection per request, so the
        kernel spreads them); returns {worker pid: status of its last answer}."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                _get(self.base + path, timeout=60)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
                continue
            answered = {r["pid"]: r["status"] for r in _records(self.log)
                        if r["logger"] == "portal.request" and r["path"] == path.split("?")[0]}
            if len(answered) >= self.workers:
                return answered
        pytest.fail(f"not every worker answered {path}:\n" + self.log.read_text()[-3000:])

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("gunicorn did not stop within 60 s of SIGTERM")
        return time.monotonic() - started


@pytest.fixture
def start(tmp_path):
    servers = []

    def run(model: str, workers: int, **extra) -> Server:
        env = _env(tmp_path, _free_port(), model, workers, **extra)
        _prepare(env)
        server = Server(tmp_path, env, workers)
        servers.append(server)
        return server
    yield run
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def _assert_preloaded_once(server: Server) -> None:
    records = _records(server.log)
    master = server.proc.pid
    loaded = [r for r in records if r["message"].startswith("embedding model ") and "before fork" in r["message"]]
    assert len(loaded) == 1 and loaded[0]["pid"] == master, loaded
    workers = server.worker_pids()
    assert len(workers) == server.workers and master not in workers
    inherited = {r["pid"] for r in records if "uses the embedding model loaded in the master" in r["message"]}
    assert inherited == workers
    # The model's own loading message (real model) appears once, in the master, never in a worker.
    st_loads = [r["pid"] for r in records if r["logger"].startswith("sentence_transformers")
                and r["message"].startswith("Loading")]
    assert set(st_loads) <= {master}


def test_preloaded_workers_all_answer_and_stop_gracefully(start):
    server = start("hash", 3, HELPDESK_ACCESS_LOG="-")
    answered = server.wait_until_every_worker_answers("/readyz")
    assert set(answered) == server.worker_pids() and set(answered.values()) == {200}
    status, body = _get(server.base + "/readyz")
    assert status == 200 and body["checks"]["model"] == "ok (hash-256)"
    _assert_preloaded_once(server)
    assert server.stop() < 35  # graceful_timeout 30 s
    assert server.proc.returncode == 0
    records = _records(server.log)
    assert all(set(r) >= {"timestamp", "level", "logger", "message", "pid"} for r in records)
    assert any(r["message"] == "Shutting down: Master" for r in records)
    # gunicorn's own access log (asked for here) is JSON too, tied to the app's line by the request id.
    app_ids = {r["request_id"] for r in records if r["logger"] == "portal.request"}
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert access and {r["request_id"] for r in access} == app_ids
    assert all(r["method"] == "GET" and r["status"] == 200 and r["path"] == "/readyz" for r in access)


@pytest.mark.real_model
def test_real_model_encodes_in_every_worker_after_fork(start):
    """The bundled MiniLM, loaded and used once in the master, then encoding in each worker
    (with two torch threads there, to show no inherited thread pool hangs)."""
    server = start("", 2, HELPDESK_TORCH_THREADS="2")
    answered = server.wait_until_every_worker_answers("/api/suggest?q=vpn+keeps+disconnecting")
    assert set(answered) == server.worker_pids() and set(answered.values()) == {200}
    _assert_preloaded_once(server)
    server.stop()


def test_workers_share_the_rate_limit_through_redis(start):
    """Three worker processes, one Redis: the suggestion limit (3 per minute) counts across
    them (each worker alone would let 3 through). The client address comes from
    X-Forwarded-For (HELPDESK_PROXY_FIX=1), a made-up one per run, whose keys are removed after."""
    import random

    import redis

    address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    server = start("hash", 3, HELPDESK_REDIS_URL="redis://127.0.0.1:6379/0", HELPDESK_PROXY_FIX="1",
                   HELPDESK_SUGGEST_RATE_LIMIT="3 per minute")
    try:
        server.wait_until_every_worker_answers("/readyz")
        codes = []
        for i in range(9):
            req = urllib.request.Request(server.base + "/api/suggest?q=printer", headers={
                "X-Forwarded-For": address, "X-Request-ID": f"limit-{i}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    codes.append(resp.status)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
        lines = [r for r in _records(server.log) if r["logger"] == "portal.request" and r["path"] == "/api/suggest"]
        assert sorted(codes) == [200] * 3 + [429] * 6, codes
        assert {r["remote_addr"] for r in lines} == {address}
        assert len({r["pid"] for r in lines}) >= 2, "the requests should have reached more than one worker"
        assert list(client.scan_iter(match=f"*{address}*")), "the counter lives in Redis"
    finally:
        server.stop()
        for key in client.scan_iter(match=f"*{address}*"):
            client.delete(key)
        client.close()

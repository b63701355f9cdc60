"""A live stack for integration tests: uvicorn (ASGI) + a real Celery worker (solo pool) + celery beat, on the
real Redis (a DB number of its own) and on pytest-django's PostgreSQL test database, with the real model.

The subprocesses read the test database because DATABASE_URL points them at it; tests commit their data
(transactional_db) so the worker sees it, and the database is flushed after each test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = int(os.environ.get("INTEGRATION_REDIS_DB", "13"))
JOB_TIMEOUT = float(os.environ.get("INTEGRATION_JOB_TIMEOUT", "240"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    base_url: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def start_worker(self, name: str) -> subprocess.Popen:
        process = self.start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config.celery_app",
                "worker",
                "-Q",
                "generation,callbacks",
                "--pool",
                "solo",
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
        )
        deadline = time.monotonic() + 180
        while "ready." not in self.log_text(name):
            assert process.poll() is None, f"worker {name} exited:\n{self.log_text(name)[-3000:]}"
            assert time.monotonic() < deadline, f"worker {name} not ready:\n{self.log_text(name)[-3000:]}"
            time.sleep(0.3)
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        _stop(self.processes.pop(name), sig)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["REDIS_URL"])


@pytest.fixture(scope="session")
def stack(django_db_setup, tmp_path_factory) -> Iterator[Stack]:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("integration tests need PostgreSQL (set DATABASE_URL)")
    database = urlsplit(os.environ["DATABASE_URL"])
    database_url = urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"]))
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": database_url,
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CACHE_KEY_PREFIX": "principled-integration",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "THROTTLE_GENERATION_RATE": "30/min",
        "GENERATION_DEFAULT_MAX_TOKENS": "8",
        "GENERATION_HEARTBEAT_SECONDS": "1",
        "GENERATION_RUNNING_DEADLINE_SECONDS": "20",
        "GENERATION_QUEUED_DEADLINE_SECONDS": "10",
        "GENERATION_SWEEP_INTERVAL_SECONDS": "3",
        "GENERATION_CALLBACK_ALLOW_PRIVATE": "1",
        "GENERATION_CALLBACK_BACKOFF_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    stack = Stack(env=env, logs=tmp_path_factory.mktemp("stack"))
    stack.redis().flushdb()
    port = _free_port()
    stack.base_url = f"http://127.0.0.1:{port}"
    try:
        stack.start(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
        )
        stack.start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config.celery_app",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(stack.logs / "beat-schedule"),
            ],
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{stack.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, stack.log_text("web")[-3000:]
            time.sleep(0.3)
        stack.start_worker("worker1")
        yield stack
    finally:
        for name in list(stack.processes):
            stack.stop(name)
        stack.redis().flushdb()


@dataclass
class Account:
    user: object
    token: str
    client: httpx.Client


@pytest.fixture
def account(stack, transactional_db) -> Iterator[Callable[[str], Account]]:
    """`account("alice")` -> a committed user with a knox token and an httpx client of the live server."""
    from knox.models import AuthToken

    from tests.factories import UserFactory

    clients = []

    def make(name: str) -> Account:
        user = UserFactory(username=f"{name}-{time.monotonic_ns()}")
        _, token = AuthToken.objects.create(user=user)
        client = httpx.Client(
            base_url=stack.base_url + "/api/v1", timeout=180, headers={"Authorization": f"Token {token}"}
        )
        clients.append(client)
        return Account(user=user, token=token, client=client)

    yield make
    for client in clients:
        client.close()


def wait_for_job(
    client: httpx.Client, job_id: str, until: Callable[[dict], bool] | None = None, timeout: float = JOB_TIMEOUT
) -> dict:
    """Poll the job until `until(job)` (default: finished) holds."""
    until = until or (lambda job: job["status"] in ("succeeded", "failed", "cancelled"))
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}/").json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job did not get there in {timeout}s: {job}"
        time.sleep(0.25)

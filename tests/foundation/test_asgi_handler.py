"""The production ASGI application (config.asgi, core.asgi's handler): the sync middleware chain and view run in
one thread hop per request, and plain answers, errors and Server-Sent Events streams still come out whole."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.test import override_settings

from assistant.models import GenerationJob
from core.asgi import MAX_IDLE_REQUEST_THREADS, RequestThreads, SyncChainASGIHandler, threads_keep_connections
from core.auth import token_issue
from tests.asgi_scope import http_scope
from tests.factories import UserFactory, job_answering_hi

# The chain runs in worker threads, each with its own database connection: the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


async def asgi_call(application, method: str, path: str, *, token: str = "", body: dict | None = None) -> dict:
    raw = json.dumps(body).encode() if body is not None else b""
    scope = http_scope(method, path, token=token, json_length=len(raw))
    received = False

    async def receive() -> dict:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the handler cancels this when the response is out

    answer: dict = {"body": b"", "chunks": 0}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {key.decode().lower(): value.decode() for key, value in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")
            answer["chunks"] += 1

    await asyncio.wait_for(application(scope, receive, send), timeout=30)
    return answer


def test_the_production_application_runs_the_middleware_chain_synchronously():
    from config.asgi import application

    assert isinstance(application, SyncChainASGIHandler)
    # Django's own handler builds an async chain; each sync middleware then costs two thread hops per request.
    assert not iscoroutinefunction(application._middleware_chain)


@override_settings(ALLOWED_HOSTS=["127.0.0.1"])
def test_answers_errors_and_streams_through_the_asgi_handler():
    application = SyncChainASGIHandler()
    user = UserFactory(username="asgi")
    token = token_issue(user=user)
    job = job_answering_hi(user, reply="Hello!", status=GenerationJob.Status.SUCCEEDED)

    async def scenario() -> list[dict]:
        return [
            await asgi_call(application, "GET", "/healthz"),
            await asgi_call(application, "GET", f"/api/v1/jobs/{job.pk}/", token=token),
            await asgi_call(application, "GET", f"/api/v1/jobs/{job.pk}/"),
            await asgi_call(application, "GET", "/api/v1/jobs/not-a-uuid/", token=token),
            await asgi_call(application, "GET", f"/api/v1/jobs/{job.pk}/stream/", token=token),
        ]

    health, detail, anonymous, missing, stream = asyncio.run(scenario())
    assert (health["status"], json.loads(health["body"])) == (200, {"status": "ok"})
    assert detail["status"] == 200 and json.loads(detail["body"])["reply"]["content"] == "Hello!"
    assert anonymous["status"] == 401 and json.loads(anonymous["body"])["error"]["code"] == "not_authenticated"
    assert missing["status"] == 404 and json.loads(missing["body"])["error"]["code"] == "not_found"
    assert stream["status"] == 200 and stream["headers"]["content-type"] == "text/event-stream"
    assert stream["body"].startswith(b"retry: 2000\n\n")
    done = stream["body"].decode().strip().split("\n\n")[-1].split("\n")
    assert done[0] == "event: done"
    assert json.loads(done[1].removeprefix("data: "))["job"]["reply"]["content"] == "Hello!"
    assert stream["chunks"] >= 2  # streamed as it was produced, not buffered into one body


@override_settings(ALLOWED_HOSTS=["127.0.0.1"], WEB_RUNNING_REQUESTS=0)  # no limit: three run at once
def test_requests_reuse_their_thread():
    import threading

    from django.core.signals import request_started

    threads: list[str] = []

    def record_thread(**kwargs) -> None:
        threads.append(threading.current_thread().name)

    application = SyncChainASGIHandler()
    request_started.connect(record_thread)
    try:

        async def three_at_once() -> None:
            await asyncio.gather(*(asgi_call(application, "GET", "/healthz") for _ in range(3)))

        asyncio.run(three_at_once())
        concurrent = set(threads)
        threads.clear()
        for _ in range(4):
            asyncio.run(asgi_call(application, "GET", "/healthz"))
    finally:
        request_started.disconnect(record_thread)
    # Three requests at once ran on three threads; the four after them, one at a time, on threads of those three
    # (Django's own context makes a new thread for every request: seven names).
    assert len(concurrent) == 3
    assert set(threads) <= concurrent
    assert len(application.request_threads.idle) == 3


def test_a_request_that_fails_gives_its_thread_up_and_persistent_connections_keep_no_thread():
    import threading

    threads = RequestThreads()
    names: list[str] = []

    async def request(fail: bool) -> None:
        async with threads.request_context():
            names.append(await sync_to_async(lambda: threading.current_thread().name, thread_sensitive=True)())
            if fail:
                raise RuntimeError("cancelled, say")

    asyncio.run(request(fail=False))
    assert len(threads.idle) == 1
    with pytest.raises(RuntimeError):
        asyncio.run(request(fail=True))
    assert threads.idle == []  # the failed request took the idle executor and shut it down
    asyncio.run(request(fail=False))
    assert names[0] == names[1] != names[2]

    assert threads_keep_connections([{"CONN_MAX_AGE": 60}])
    assert not threads_keep_connections([{"CONN_MAX_AGE": 0}, {"CONN_MAX_AGE": 60, "OPTIONS": {"pool": True}}])
    pooled = not threads_keep_connections(settings.DATABASES.values())
    assert SyncChainASGIHandler().request_threads.max_idle == (MAX_IDLE_REQUEST_THREADS if pooled else 0)


def test_the_production_application_loads_in_a_fresh_interpreter():
    """gunicorn imports config.asgi before Django is set up: nothing it imports may need the app registry."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "fresh-interpreter", "DEBUG": "0"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import config.asgi; print(type(config.asgi.application).__name__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "SyncChainASGIHandler"

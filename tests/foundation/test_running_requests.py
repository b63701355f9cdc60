"""core.running_requests through the production ASGI handler: at most WEB_RUNNING_REQUESTS requests of a process
run at once, on as many threads, and nothing that waits on a client or sleeps holds a slot: a slow upload, an
open event stream, a long poll."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from django.core.signals import request_started
from django.test import override_settings

from assistant.models import GenerationJob
from core.asgi import SyncChainASGIHandler, body_read_ahead, replayed
from core.auth import token_issue
from core.running_requests import _Slot, slot_given_up
from tests.asgi_scope import http_scope
from tests.factories import UserFactory, job_answering_hi

pytestmark = pytest.mark.django_db(transaction=True)  # the chain runs on worker threads: rows are committed


async def call(
    application,
    scope: dict,
    *,
    body_parts=(b"",),
    part_gate: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
    headers_into: dict | None = None,
):
    """One request; the body in parts (each after `part_gate` once the first is in); `started` is set when the
    response starts, `headers_into["headers"]` gets its headers. Returns (status, body)."""
    parts = list(body_parts)
    answer = {"status": None, "body": b""}

    async def receive() -> dict:
        if parts:
            if len(parts) < len(body_parts) and part_gate is not None:
                await part_gate.wait()
            part = parts.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(parts)}
        await asyncio.Event().wait()  # no disconnect

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            if headers_into is not None:
                headers_into["headers"] = {key.decode(): value.decode() for key, value in message["headers"]}
            if started is not None:
                started.set()
        else:
            answer["body"] += message.get("body", b"")

    await asyncio.wait_for(application(scope, receive, send), timeout=30)
    return answer["status"], answer["body"]


class Concurrency:
    """How many requests were inside Django at once, and on which threads (a request_started receiver that
    stays a while)."""

    def __init__(self, stay_seconds: float = 0.05) -> None:
        self.inside = self.most = 0
        self.threads: set[str] = set()
        self.lock = threading.Lock()
        self.stay_seconds = stay_seconds

    def __call__(self, **kwargs) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.threads.add(threading.current_thread().name)
        time.sleep(self.stay_seconds)
        with self.lock:
            self.inside -= 1


@pytest.fixture
def concurrency():
    recorder = Concurrency()
    request_started.connect(recorder)
    yield recorder
    request_started.disconnect(recorder)


@pytest.mark.parametrize("limit", [1, 2, 0])
def test_at_most_the_limit_run_at_once_on_as_many_threads(limit, concurrency):
    with override_settings(ALLOWED_HOSTS=["127.0.0.1"], WEB_RUNNING_REQUESTS=limit):
        application = SyncChainASGIHandler()

        async def six_at_once():
            return await asyncio.gather(*(call(application, http_scope("GET", "/healthz")) for _ in range(6)))

        answers = asyncio.run(six_at_once())
    assert [status for status, _ in answers] == [200] * 6
    expected = limit or 6  # 0: no limit
    assert concurrency.most == expected
    assert len(concurrency.threads) == expected  # a waiting request takes no thread
    assert len(application.request_threads.idle) == expected


@override_settings(ALLOWED_HOSTS=["127.0.0.1"], WEB_RUNNING_REQUESTS=1)
def test_a_slow_upload_holds_no_slot():
    application = SyncChainASGIHandler()
    token = token_issue(user=UserFactory(username="uploader"))
    body = json.dumps({"title": "slow"}).encode()

    async def scenario():
        rest_of_body = asyncio.Event()
        upload = asyncio.create_task(
            call(
                application,
                http_scope("POST", "/api/v1/conversations/", token=token, json_length=len(body)),
                body_parts=(body[:5], body[5:]),
                part_gate=rest_of_body,
            )
        )
        await asyncio.sleep(0.05)  # the upload's first part is in; the rest is late
        health = await call(application, http_scope("GET", "/healthz"))
        rest_of_body.set()
        return health, await upload

    (health_status, _), (upload_status, upload_body) = asyncio.run(scenario())
    assert health_status == 200
    assert upload_status == 201 and json.loads(upload_body)["title"] == "slow"


@override_settings(ALLOWED_HOSTS=["127.0.0.1"], WEB_RUNNING_REQUESTS=1)
def test_an_open_stream_and_a_long_poll_hold_no_slot():
    application = SyncChainASGIHandler()
    user = UserFactory(username="waiter")
    token = token_issue(user=user)
    job = job_answering_hi(user, status=GenerationJob.Status.RUNNING)

    async def scenario():
        stream_started = asyncio.Event()
        stream = asyncio.create_task(
            call(application, http_scope("GET", f"/api/v1/jobs/{job.pk}/stream/", token=token), started=stream_started)
        )
        await asyncio.wait_for(stream_started.wait(), timeout=10)
        poll = asyncio.create_task(
            call(application, http_scope("GET", f"/api/v1/jobs/{job.pk}/", token=token, query="wait=3"))
        )
        await asyncio.sleep(0.3)  # the long poll is asleep on the job's events
        began = time.monotonic()
        health = await call(application, http_scope("GET", "/healthz"))
        answered_in = time.monotonic() - began
        polled = await poll
        stream.cancel()
        (semaphore,) = application.running_requests._semaphores.values()
        assert not semaphore.locked()  # the long poll took its slot back and gave it back at the end
        return health, answered_in, polled

    (health_status, _), answered_in, (poll_status, poll_body) = asyncio.run(scenario())
    assert health_status == 200
    assert answered_in < 2  # not after the long poll's 3 seconds
    assert (poll_status, json.loads(poll_body)["status"]) == (200, "running")  # it took its slot back to answer


@override_settings(ALLOWED_HOSTS=["127.0.0.1"], WEB_RUNNING_REQUESTS=1)
def test_a_client_that_reads_slowly_holds_no_slot():
    application = SyncChainASGIHandler()
    token = token_issue(user=UserFactory(username="reader"))

    async def scenario():
        reader_reads = asyncio.Event()
        receiving = {"body": False}

        async def slow_send(message: dict) -> None:
            if message["type"] == "http.response.body":
                receiving["body"] = True
                await reader_reads.wait()  # the client's socket is full: the server's send waits

        async def receive() -> dict:
            if not receiving.get("asked"):
                receiving["asked"] = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()

        slow = asyncio.create_task(
            application(http_scope("GET", "/api/v1/conversations/", token=token), receive, slow_send)
        )
        while not receiving["body"]:
            await asyncio.sleep(0.01)
        health = await asyncio.wait_for(call(application, http_scope("GET", "/healthz")), timeout=5)
        reader_reads.set()
        await slow
        return health

    assert asyncio.run(scenario())[0] == 200


@override_settings(ALLOWED_HOSTS=["127.0.0.1"], WEB_RUNNING_REQUESTS=1, WEB_QUEUE_TIMEOUT_SECONDS=0.2)
def test_a_request_that_waits_too_long_for_its_turn_is_told_to_retry(concurrency):
    concurrency.stay_seconds = 1.0  # the first request holds the only slot for a second
    application = SyncChainASGIHandler()
    answers = {}

    async def scenario():
        first = asyncio.create_task(call(application, http_scope("GET", "/healthz")))
        await asyncio.sleep(0.1)
        answers["second"] = await call(application, http_scope("GET", "/healthz"), headers_into=answers)
        answers["first"] = await first

    asyncio.run(scenario())
    assert answers["first"][0] == 200
    status, body = answers["second"]
    assert status == 503 and json.loads(body)["error"]["code"] == "service_unavailable"
    assert answers["headers"]["retry-after"] == "1"


def test_body_read_ahead_stops_past_the_limit_and_replays_in_order():
    async def scenario():
        sent = [
            {"type": "http.request", "body": b"aaaa", "more_body": True},
            {"type": "http.request", "body": b"bbbb", "more_body": True},
            {"type": "http.request", "body": b"cc", "more_body": False},
        ]
        source = iter(sent)

        async def receive():
            return next(source)

        whole = await body_read_ahead(replayed(sent, receive), limit=100)
        ahead, complete = await body_read_ahead(receive, limit=6)
        rest = replayed(ahead, receive)
        return whole, complete, [await rest() for _ in range(3)], sent

    (whole_messages, whole_complete), complete, replay, sent = asyncio.run(scenario())
    assert whole_complete and whole_messages == sent
    assert not complete  # 8 bytes read ahead, past the limit of 6: the rest is Django's to read
    assert replay == sent


def test_giving_up_a_slot_outside_one_does_nothing_and_a_late_taker_takes_none():
    with slot_given_up():  # no request: nothing to give
        pass

    async def scenario():
        semaphore = asyncio.Semaphore(1)
        loop = asyncio.get_running_loop()
        holder, late = _Slot(semaphore, loop), _Slot(semaphore, loop)
        await holder.take()
        taking_back = asyncio.create_task(late.take())  # a long poll's thread waking up, all slots taken
        await asyncio.sleep(0)
        late.close()  # its request ended meanwhile (the client went away)
        holder.close()
        await taking_back
        return late.held, semaphore.locked()

    assert asyncio.run(scenario()) == (False, False)  # the slot it got went straight back

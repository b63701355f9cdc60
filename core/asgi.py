"""The ASGI handler: Django's, with the middleware chain and the view run synchronously in one thread hop, on a
thread kept from one request to the next.

Django's own ASGI handler builds the middleware chain in async mode. Every middleware here is synchronous
(Django's MiddlewareMixin ones run their hooks through `sync_to_async` under ASGI, and ours are plain sync
callables), so a request crossed between the event loop and a worker thread a dozen times on its way to a sync
view and back: measured in-process, 4.2 ms of CPU for `GET /healthz` under ASGI against 0.2 ms through the
same chain run synchronously. This handler loads the chain in sync mode (as the WSGI handler does) and runs it,
view included, with one `sync_to_async` per request.

Django also gives every request a `ThreadSensitiveContext`, so that the request's thread-sensitive sync calls
(the `request_started` receivers, the chain, `response.close()` with `request_finished`) share one thread; asgiref
makes a new single-thread executor, a new OS thread, for each such context, and one more thread to join it at the
end. Here each request's context runs on an executor it takes from a per-process free list (asgiref's
`ThreadSensitiveContext(executor=...)`: the caller owns the executor) and gives back when it is over, so requests
reuse their threads the way a threaded WSGI server's do. Every thread-sensitive call of a request that ended
normally was awaited (Django's last one is `response.close()` or `request_finished`, queued behind anything a
disconnect left running), so the thread is idle when it is given back; a request that ended with an exception is
not trusted with that, and its executor is shut down. With persistent database connections and no pool
(`CONN_MAX_AGE > 0`), a parked thread would keep its connection open for as long as it stays parked, so then no
thread is kept (Django's behaviour). Measured in-process on a loaded 2-core machine: `GET /healthz` 3.1-3.6 ->
1.05-1.3 ms of CPU per request.

Everything else is Django's: reading the body, disconnect handling, and sending the response, streamed ones
included (an async iterator, the Server-Sent Events, is iterated on the event loop as before).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

from core.running_requests import RunningRequests

# Idle threads kept per process beyond this many are let go (a burst of long polls should not pin threads forever).
MAX_IDLE_REQUEST_THREADS = 64


def threads_keep_connections(databases: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a thread keeps its database connection open after a request: persistent connections without
    Django's pool (with the pool, or CONN_MAX_AGE 0, `request_finished` closes or returns it)."""
    return any(db.get("CONN_MAX_AGE", 0) and not (db.get("OPTIONS") or {}).get("pool") for db in databases)


class RequestThreads:
    """Single-thread executors for the requests of one process, kept for later requests when they are over.

    Used from the process's event loop only, so the free list needs no lock."""

    def __init__(self, max_idle: int = MAX_IDLE_REQUEST_THREADS) -> None:
        self.max_idle = max_idle
        self.idle: list[ThreadPoolExecutor] = []

    @asynccontextmanager
    async def request_context(self) -> AsyncIterator[None]:
        """A thread-sensitive context for one request, on an idle executor or a new one."""
        executor = self.idle.pop() if self.idle else ThreadPoolExecutor(max_workers=1)
        ended_normally = False
        try:
            async with ThreadSensitiveContext(executor=executor):
                yield
            ended_normally = True
        finally:
            if ended_normally and len(self.idle) < self.max_idle:
                self.idle.append(executor)
            else:
                executor.shutdown(wait=False)


# A response's body that the client has not taken within this long gives its slot back (core.running_requests).
SLOW_CLIENT_SECONDS = 0.05
BODY_READ_AHEAD_MAX = 2_621_440  # without a body size limit: Django's FILE_UPLOAD_MAX_MEMORY_SIZE default


async def body_read_ahead(receive, limit: int) -> tuple[list[dict], bool]:
    """The request's messages up to its body's last one (or a disconnect), while they hold at most `limit` bytes:
    (messages, whether that is all of the body)."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages, True
        size += len(message.get("body", b""))
        if size > limit:
            return messages, False


async def send_busy(send) -> None:
    """503 `service_unavailable` with `Retry-After`: no running request's slot came free in time."""
    # imports DRF, which needs the app registry loaded first
    from core.exception_handler import POOL_EXHAUSTED_RETRY_AFTER_SECONDS, error_body

    body = json.dumps(
        error_body("service_unavailable", "The server is busy (every running request's slot was taken); retry shortly.")
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(POOL_EXHAUSTED_RETRY_AFTER_SECONDS).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def replayed(messages: list[dict], receive):
    """`receive` giving the messages read ahead first."""
    pending = deque(messages)

    async def receive_replayed() -> dict:
        return pending.popleft() if pending else await receive()

    return receive_replayed


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        # A parked thread would hold its persistent connection open: then keep none, as Django does.
        parked_threads_hold_connections = threads_keep_connections(settings.DATABASES.values())
        self.request_threads = RequestThreads(
            max_idle=0 if parked_threads_hold_connections else MAX_IDLE_REQUEST_THREADS
        )
        self.running_requests = RunningRequests(settings.WEB_RUNNING_REQUESTS)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # The body first (a slow upload holds no slot), then a running request's slot (core.running_requests),
        # then a thread: only running requests take a thread, so a process's requests keep reusing the same few.
        # A body larger than the API takes (answered 413) is not read ahead and runs without a slot.
        messages, whole = await body_read_ahead(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or BODY_READ_AHEAD_MAX)
        client_left = messages[-1]["type"] == "http.disconnect"  # Django sees it and stops
        try:
            queued = whole and not client_left
            if queued and not await self.running_requests.enter(timeout=settings.WEB_QUEUE_TIMEOUT_SECONDS):
                await send_busy(send)
                return
            async with self.request_threads.request_context():
                await self.handle(scope, replayed(messages, receive), send)
        finally:
            self.running_requests.leave()

    async def send_response(self, response, send) -> None:
        """A stream (Server-Sent Events) gives its slot back as it starts. Another response keeps it while its body
        goes out, unless the client reads too slowly for that (a full socket): then it gives it back and waits.
        Keeping it to the end (`response.close()`) is what lets the next request reuse this one's thread."""
        if response.streaming:
            self.running_requests.responding()
        if not self.running_requests.holding():  # a stream, no limit, or no slot: nothing to give back
            await super().send_response(response, send)
            return

        async def send_or_give_the_slot_back(message: dict) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            sending = asyncio.ensure_future(send(message))
            try:
                done, _ = await asyncio.wait({sending}, timeout=SLOW_CLIENT_SECONDS)
                if not done:
                    self.running_requests.responding()
                await sending
            except asyncio.CancelledError:
                sending.cancel()
                raise

        await super().send_response(response, send_or_give_the_slot_back)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """`django.core.asgi.get_asgi_application` with this handler."""
    django.setup(set_prefix=False)
    return SyncChainASGIHandler()

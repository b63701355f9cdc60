"""At most a few requests of a web process run at once; the others wait on the event loop, in arrival order,
before Django sees them.

Each request crosses from the event loop to a thread of its own and back three times (the `request_started`
signal, the middleware chain with the view, `response.close()`), and runs two tasks on the loop. With 32 clients
on two processes, sixteen requests of a process were in flight at once, their threads taking turns on the
interpreter lock between database and Redis round trips: every turn a lock hand-off, a context switch and a cold
cache, and every request slower together. Python runs one thread at a time anyway, and a couple of running
requests fill each other's waits on the database. Measured with `bench/service.py` at 32 clients, alternated
with no limit: 2 running requests per process served 20% more submissions and 26% more job polls per second, at
17-18% less server CPU per request, with a shorter tail (submission p95 196-198 -> 149-178 ms, job poll p95 76-83
-> 52-60 ms). A waiting request takes no thread, so a process's requests keep reusing the same few threads: taking
the slot after the thread instead gave half of that (docs/service.md, "Running requests").

A slot is taken once the request's body has been read (a slow upload holds none; a body larger than the API takes,
answered 413, is not read ahead and runs without one, as does a request whose client left while it was read) and
given back as soon as the view's response goes out: a client that reads slowly, and a stream (Server-Sent Events),
hold none. A request that sleeps in its view (a long poll waiting for its job) gives its slot up while it sleeps
(`slot_given_up()`), so long polls never hold the process up. A request that finds no free slot within
`WEB_QUEUE_TIMEOUT_SECONDS` is answered 503 `service_unavailable` with `Retry-After`, as when the database pool has
no connection free. The limit is `WEB_RUNNING_REQUESTS` (0: none).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

TAKE_BACK_TIMEOUT_SECONDS = 30


class _Slot:
    """One request's claim on a slot. Its state changes only on the event loop (a thread asks the loop)."""

    def __init__(self, semaphore: asyncio.Semaphore, loop: asyncio.AbstractEventLoop) -> None:
        self.semaphore, self.loop = semaphore, loop
        self.held = False
        self.closed = False  # the request is over: a thread that wakes up late takes no slot

    async def take(self) -> None:
        if self.held:
            return
        await self.semaphore.acquire()
        if self.closed:
            self.semaphore.release()
        else:
            self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.semaphore.release()

    def close(self) -> None:
        self.closed = True
        self.give_back()


_current: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("running_request_slot", default=None)


class RunningRequests:
    """The slots of one process's event loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # One set per event loop (a server process runs one; tests run several in turn).
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def enter(self, timeout: float) -> bool:
        """Wait for a slot and hold it (in the request's task and the threads it runs code on) until the request is
        over, or its response streams or waits on a slow client; False when none came free within `timeout`
        seconds (the process is overloaded)."""
        if self.limit <= 0:
            return True
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        slot = _Slot(semaphore, loop)
        _current.set(slot)
        try:
            async with asyncio.timeout(timeout):
                await slot.take()
        except TimeoutError:
            slot.close()
            return False
        return True

    @staticmethod
    def holding() -> bool:
        """Whether this request holds a slot now (on the loop)."""
        slot = _current.get()
        return slot is not None and slot.held

    @staticmethod
    def responding() -> None:
        """The view is done and its response streams, or waits on a client that reads slowly (on the loop): the slot
        goes to the next request."""
        slot = _current.get()
        if slot is not None:
            slot.give_back()

    @staticmethod
    def leave() -> None:
        """The request is over (on the loop)."""
        slot = _current.get()
        if slot is not None:
            slot.close()


def _on_a_worker_thread(slot: _Slot) -> bool:
    try:
        return asyncio.get_running_loop() is not slot.loop
    except RuntimeError:  # no loop runs on this thread
        return True


@contextmanager
def slot_given_up() -> Iterator[None]:
    """For sync code of a request that sleeps (on an event log): its slot goes to the next request meanwhile, and
    is taken back, waiting for one if all are taken, before the block ends. Outside a slot it does nothing."""
    slot = _current.get()
    if slot is None or not _on_a_worker_thread(slot):
        yield
        return
    slot.loop.call_soon_threadsafe(slot.give_back)
    try:
        yield
    finally:
        taken = asyncio.run_coroutine_threadsafe(slot.take(), slot.loop)
        try:
            taken.result(timeout=TAKE_BACK_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            pass  # the loop is stopping, or overloaded: answer without a slot (taken later, it goes back at the end)

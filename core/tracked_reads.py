"""Values read from Redis that a process keeps, each dropped as soon as Redis says its key changed.

Redis's client tracking in broadcast mode (`CLIENT TRACKING ON BCAST PREFIX <prefix>`, Redis 6 and later): every
change of a key under the prefix, by any client (a write, a delete, an expiry or eviction, a `FLUSHDB`), makes
Redis send its name to each tracking process, on that process's own connection (subscribed to
`__redis__:invalidate`, the tracking redirected to itself: plain RESP2, no push protocol needed). Before
answering from its copy, a process reads whatever names are waiting on that connection without blocking (a poll
of the socket: about 2 us) and drops those values.

Why an acknowledged write is not answered from an old copy: Redis queues the invalidation for the tracking
connections while it executes the write and sends them in the same pass of its event loop as the writer's reply,
so by the time the writer has heard back and acted on it (a logout's response reaching its client, then that
client's next request reaching another process) the names are in the reader's socket. That is timing, not a
protocol guarantee: a tracking connection whose output is backed up, or a lost TCP segment on a real network, can
delay the report past the writer's reply; the window is that delay. A value fetched while its key changed is not
kept: the slot is reserved before the fetch, an invalidation clears the reservation, and the value is stored only
if its reservation is still there.

A thread of the process drains the connection every `HOUSEKEEPING_SECONDS` while no request does, so Redis never
buffers an idle process's reports, and sends a PING when nothing was heard for `HEARTBEAT_SECONDS`: a connection
that leaves it unanswered for `PONG_DEADLINE_SECONDS` is given up, as one that fails (a NAT's idle timeout or a
partition closes nothing the socket would notice). When the tracking connection is given up (Redis restarted, a
network error, silence), every copy is dropped and reads go to Redis until it is back (retried at most once a
second); a partly received message waits at most `READ_TIMEOUT_SECONDS`. A copy is also kept at most `max_age`
seconds, and at most `max_entries` values are kept (the oldest go first).

One tracker per process (a forked child makes its own); thread-safe.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from redis.connection import Connection, parse_url

logger = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"
RECONNECT_INTERVAL_SECONDS = 1.0
# With nothing heard on the tracking connection for this long a PING is sent; unanswered for PONG_DEADLINE_SECONDS
# more, the connection counts as dead (a NAT's idle timeout or a partition closes nothing the socket would see).
HEARTBEAT_SECONDS = 1.0
PONG_DEADLINE_SECONDS = 1.0
# How often a thread of the process drains the connection while no request does (so Redis never buffers an idle
# process's invalidations, and the heartbeat runs).
HOUSEKEEPING_SECONDS = 0.5
# A partly received message waits at most this long (under the lock) before the connection is given up.
READ_TIMEOUT_SECONDS = 0.25


class _Reservation:
    """The slot of a value being fetched; an invalidation of the key removes it."""


class TrackedReads:
    def __init__(self, url: str, prefix: str, *, max_entries: int, max_age: float) -> None:
        self.url, self.prefix = url, prefix
        self.max_entries, self.max_age = max_entries, max_age
        self._lock = threading.Lock()
        self._pid = 0
        self._connection: Connection | None = None
        self._next_attempt = 0.0
        self._last_heard = 0.0
        self._ping_sent_at: float | None = None
        self._closed = False
        self._values: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str, fetch: Callable[[], Any]) -> Any:
        """The value of `key` (which must start with the prefix): this process's copy while Redis has not
        changed the key since it was fetched, else `fetch()` (which reads it from Redis), kept for next time.
        An exception of `fetch` propagates, and nothing is kept."""
        with self._lock:
            if not self._synced():
                reservation = None
            else:
                kept = self._values.get(key)
                fresh = kept is not None and time.monotonic() - kept[0] < self.max_age
                if fresh and not isinstance(kept[1], _Reservation):
                    return kept[1]
                reservation = _Reservation()
                self._values[key] = (time.monotonic(), reservation)
                self._values.move_to_end(key)
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
        value = fetch()
        if reservation is not None:
            with self._lock:
                if self._synced():
                    kept = self._values.get(key)
                    if kept is not None and kept[1] is reservation:
                        self._values[key] = (kept[0], value)
        return value

    def kept(self) -> int:
        """How many values this process holds now."""
        with self._lock:
            return sum(not isinstance(value, _Reservation) for _, value in self._values.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_connection()

    # Under the lock:

    def _synced(self) -> bool:
        """Whether the copies are current: the tracker is connected, alive, and every waiting invalidation
        applied."""
        if self._pid != os.getpid():  # first use, or a forked child (the parent's socket and copies are not its own)
            self._pid, self._connection, self._next_attempt = os.getpid(), None, 0.0
            self._values.clear()
            threading.Thread(target=self._housekeep, args=(self._pid,), daemon=True, name="tracked-reads").start()
        if self._closed or (self._connection is None and not self._connect()):
            return False
        try:
            while self._connection.can_read(timeout=0):
                self._apply(self._connection.read_response())
                self._last_heard = time.monotonic()
            return self._alive()
        except Exception:
            logger.warning("the invalidation connection failed; reading from Redis until it is back", exc_info=True)
            self._drop_connection()
            return False

    def _alive(self) -> bool:
        now = time.monotonic()
        if self._ping_sent_at is not None and self._last_heard >= self._ping_sent_at:
            self._ping_sent_at = None  # answered
        if self._ping_sent_at is not None and now - self._ping_sent_at > PONG_DEADLINE_SECONDS:
            logger.warning("the invalidation connection stopped answering; reading from Redis until it is back")
            self._drop_connection()
            return False
        if self._ping_sent_at is None and now - self._last_heard > HEARTBEAT_SECONDS:
            self._connection.send_command("PING")
            self._ping_sent_at = now
        return True

    def _housekeep(self, pid: int) -> None:
        while True:
            time.sleep(HOUSEKEEPING_SECONDS)
            with self._lock:
                if self._closed or self._pid != pid:
                    return
                if self._connection is not None:
                    self._synced()

    def _apply(self, message: Any) -> None:
        if not (isinstance(message, list) and len(message) == 3 and message[0] == b"message"):
            return  # a subscription's confirmation
        names = message[2]
        if names is None:  # the database was flushed
            self._values.clear()
            return
        for name in names:
            self._values.pop(name.decode() if isinstance(name, bytes) else name, None)

    def _connect(self) -> bool:
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        self._next_attempt = now + RECONNECT_INTERVAL_SECONDS
        kwargs = parse_url(self.url)
        connection_class = kwargs.pop("connection_class", Connection)  # a unix socket's, or TLS's
        connection = connection_class(
            **{**kwargs, "socket_timeout": READ_TIMEOUT_SECONDS},
            protocol=2,
            client_name=f"tracking:{self.prefix}",  # named after what it tracks, for CLIENT LIST
        )
        try:
            connection.connect()
            connection.send_command("CLIENT", "ID")
            client_id = connection.read_response()
            connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self.prefix)
            connection.read_response()
            connection.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
            connection.read_response()
        except Exception:
            logger.warning("could not open the invalidation connection; reading from Redis", exc_info=True)
            connection.disconnect()
            return False
        self._values.clear()  # nothing kept from before is known to be current
        self._connection = connection
        self._last_heard, self._ping_sent_at = time.monotonic(), None
        return True

    def _drop_connection(self) -> None:
        self._values.clear()
        if self._connection is not None and self._pid == os.getpid():
            self._connection.disconnect()
        self._connection = None

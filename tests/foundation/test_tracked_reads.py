"""A process's copies of Redis values (core/tracked_reads.py), against the real Redis: kept until Redis says the
key changed, by any client and in any way, and never kept from a fetch that raced a change."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings
from redis.connection import parse_url

from core.tracked_reads import HEARTBEAT_SECONDS, HOUSEKEEPING_SECONDS, PONG_DEADLINE_SECONDS, TrackedReads

# A database of its own: one test flushes it.
DB = 11


@pytest.fixture
def url() -> str:
    server = parse_url(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
    return f"redis://{server.get('host', '127.0.0.1')}:{server.get('port', 6379)}/{DB}"


@pytest.fixture
def store(url):
    client = redis.Redis.from_url(url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"tracked-test-{uuid.uuid4().hex}:"


@pytest.fixture
def reads(url, prefix):
    tracked = TrackedReads(url, prefix, max_entries=100, max_age=60)
    yield tracked
    tracked.close()


class Fetches:
    """A fetch from Redis that counts how often it ran."""

    def __init__(self, store: redis.Redis, key: str) -> None:
        self.store, self.key, self.count = store, key, 0

    def __call__(self):
        self.count += 1
        return self.store.get(self.key)


def test_a_value_read_once_is_answered_from_the_copy(reads, store, prefix):
    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    assert [reads.get(key, fetch) for _ in range(5)] == [b"one"] * 5
    assert fetch.count == 1 and reads.kept() == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda store, key: store.set(key, b"two"),
        lambda store, key: store.delete(key),
        lambda store, key: store.set(key, b"two", nx=False, xx=True, keepttl=True),
        lambda store, key: store.pexpire(key, 1),
    ],
    ids=["written", "deleted", "overwritten", "expiry-set"],
)
def test_any_change_by_another_client_drops_the_copy_at_once(reads, store, prefix, change):
    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    assert reads.get(key, fetch) == b"one"
    change(store, key)
    assert reads.get(key, fetch) == store.get(key)
    assert fetch.count == 2


def test_a_lapsed_time_to_live_drops_the_copy(reads, store, prefix):
    key = prefix + "a"
    store.set(key, b"one", px=50)
    fetch = Fetches(store, key)
    assert reads.get(key, fetch) == b"one"
    deadline = time.monotonic() + 5
    while store.exists(key) and time.monotonic() < deadline:  # Redis's own expiry cycle deletes it
        time.sleep(0.05)
    time.sleep(0.05)
    assert reads.get(key, fetch) is None and fetch.count == 2


def test_a_flush_drops_every_copy(reads, store, prefix):
    for name in "abc":
        store.set(prefix + name, name)
        reads.get(prefix + name, Fetches(store, prefix + name))
    assert reads.kept() == 3
    store.flushdb()
    fetch = Fetches(store, prefix + "a")
    assert reads.get(prefix + "a", fetch) is None and fetch.count == 1


def test_changes_outside_the_prefix_keep_the_copies(reads, store, prefix):
    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    reads.get(key, fetch)
    store.set("elsewhere-" + prefix, b"x")
    store.set(prefix + "b", b"x")  # another key under the prefix
    assert reads.get(key, fetch) == b"one" and fetch.count == 1


def test_a_value_fetched_while_its_key_changed_is_not_kept(reads, store, prefix):
    key = prefix + "a"
    store.set(key, b"old")

    def racing_fetch():
        value = store.get(key)  # read...
        store.set(key, b"new")  # ...then another request changes it before the value is kept
        return value

    assert reads.get(key, racing_fetch) == b"old"
    fetch = Fetches(store, key)
    assert reads.get(key, fetch) == b"new" and fetch.count == 1


def test_a_failed_fetch_keeps_nothing(reads, store, prefix):
    key = prefix + "a"

    def failing():
        raise redis.ConnectionError("down")

    with pytest.raises(redis.ConnectionError):
        reads.get(key, failing)
    store.set(key, b"one")
    fetch = Fetches(store, key)
    assert reads.get(key, fetch) == b"one" and fetch.count == 1


def test_a_copy_lives_at_most_max_age(url, store, prefix):
    reads = TrackedReads(url, prefix, max_entries=100, max_age=0.05)
    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    reads.get(key, fetch)
    reads.get(key, fetch)
    time.sleep(0.1)
    reads.get(key, fetch)
    assert fetch.count == 2
    reads.close()


def test_at_most_max_entries_are_kept(url, store, prefix):
    reads = TrackedReads(url, prefix, max_entries=3, max_age=60)
    for name in "abcde":
        reads.get(prefix + name, Fetches(store, prefix + name))
    assert reads.kept() == 3
    fetch = Fetches(store, prefix + "a")  # the oldest went first
    reads.get(prefix + "a", fetch)
    assert fetch.count == 1
    reads.close()


def test_a_cut_tracking_connection_drops_every_copy_until_it_is_back(reads, store, prefix, monkeypatch):
    import core.tracked_reads as module

    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    reads.get(key, fetch)
    trackers = [client["id"] for client in store.client_list() if client["name"] == f"tracking:{prefix}"]
    assert len(trackers) == 1
    store.client_kill_filter(_id=trackers[0])
    time.sleep(0.01)
    store.set(key, b"two")  # its invalidation is lost with the connection
    assert reads.get(key, fetch) == b"two" and fetch.count == 2
    assert reads.get(key, fetch) == b"two" and fetch.count == 3  # no copies until the reconnect interval passed
    monkeypatch.setattr(module, "RECONNECT_INTERVAL_SECONDS", 0.0)
    reads._next_attempt = 0.0
    reads.get(key, fetch)
    reads.get(key, fetch)
    assert fetch.count == 4 and reads.kept() == 1  # tracked again


def test_with_redis_unreachable_every_read_is_fetched(prefix):
    reads = TrackedReads("redis://127.0.0.1:1/0", prefix, max_entries=100, max_age=60)
    values = iter([b"one", b"two"])
    assert reads.get(prefix + "a", lambda: next(values)) == b"one"
    assert reads.get(prefix + "a", lambda: next(values)) == b"two"
    assert reads.kept() == 0
    reads.close()


def test_an_idle_process_drains_its_invalidations(reads, store, prefix):
    """No request needs to come for the reports to be read: Redis never buffers them for an idle process."""
    key = prefix + "a"
    store.set(key, b"one")
    reads.get(key, Fetches(store, key))
    for n in range(200):
        store.set(key, n)
    time.sleep(HOUSEKEEPING_SECONDS * 3)
    assert reads.kept() == 0  # dropped without a get()
    tracker = next(client for client in store.client_list() if client["name"] == f"tracking:{prefix}")
    assert int(tracker["omem"]) == 0


class FreezableProxy:
    """A TCP relay to Redis that can stop relaying without closing anything, as a partition does."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source, sink) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            while self.frozen.is_set():
                time.sleep(0.01)
            try:
                sink.sendall(data)
            except OSError:  # the other side went away
                return

    def close(self) -> None:
        self.listener.close()


def test_a_tracking_connection_that_goes_silent_is_given_up(url, store, prefix):
    server = parse_url(url)
    proxy = FreezableProxy(server.get("host", "127.0.0.1"), server.get("port", 6379))
    reads = TrackedReads(f"redis://127.0.0.1:{proxy.port}/{DB}", prefix, max_entries=100, max_age=60)
    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    reads.get(key, fetch)
    assert reads.get(key, fetch) == b"one" and fetch.count == 1
    proxy.frozen.set()
    store.set(key, b"two")  # its report never arrives
    time.sleep(HEARTBEAT_SECONDS + PONG_DEADLINE_SECONDS + 3 * HOUSEKEEPING_SECONDS)
    assert reads.get(key, fetch) == b"two" and fetch.count == 2
    proxy.frozen.clear()
    reads.close()
    proxy.close()

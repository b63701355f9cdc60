"""A process's copies of Redis values (core/tracked_reads.py), against the real Redis: kept until Redis says the
key changed, by any client and in any way, and never kept from a fetch that raced a change."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from django.conf import settings
from redis.connection import parse_url

from core.tracked_reads import TrackedReads

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
    ids=["written", "deleted", "overwritten", "expired"],
)
def test_any_change_by_another_client_drops_the_copy_at_once(reads, store, prefix, change):
    key = prefix + "a"
    store.set(key, b"one")
    fetch = Fetches(store, key)
    assert reads.get(key, fetch) == b"one"
    change(store, key)
    time.sleep(0.01)  # an expiry's own deletion (the others are acknowledged before this line)
    assert reads.get(key, fetch) == store.get(key)
    assert fetch.count == 2


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

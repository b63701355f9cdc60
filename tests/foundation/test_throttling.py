"""Rate throttles on a Redis sorted set (core/throttling.py): DRF's decisions and Retry-After exactly, one atomic
step per request (a concurrent burst gets exactly the places left), a log that never outgrows the rate."""

from __future__ import annotations

import random
import threading
import uuid

import pytest
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from core.throttling import SortedSetRateThrottle


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class DrfThrottle(SimpleRateThrottle):
    """DRF's own, on a process-local cache: the reference."""

    def __init__(self, rate: str, ident: str, clock: Clock, cache) -> None:
        self.rate, self.ident, self.timer, self.cache = rate, ident, clock, cache
        super().__init__()

    def get_cache_key(self, request, view):
        return f"throttle_test_{self.ident}"


class LoggedThrottle(DrfThrottle, SortedSetRateThrottle):
    pass


@pytest.fixture
def ident() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def local_cache():
    from django.core.cache.backends.locmem import LocMemCache

    return LocMemCache(f"throttle-reference-{uuid.uuid4().hex}", {})


def decide(throttle) -> tuple[bool, float | None]:
    allowed = throttle.allow_request(None, None)
    return allowed, None if allowed else throttle.wait()


def test_the_cache_is_redis_here():
    assert caches["default"].__class__.__module__.startswith("core.redis_cache")


@pytest.mark.parametrize("rate", ["3/min", "5/s", "10/hour"])
def test_decisions_and_retry_after_are_drfs_own(rate, ident, local_cache):
    """The same request times through DRF's throttle and this one: the same answers and waits, to the float."""
    rng = random.Random(rate)
    clock = Clock(1_764_000_000.123456)
    duration = SimpleRateThrottle.parse_rate(None, rate)[1]
    seen, passed = set(), []
    for step in range(400):
        clock.now += rng.choice([0.0, duration / 1000, duration / 200, duration / 50, duration / 10, duration * 1.2])
        later = [t + duration for t in passed if t + duration > clock.now]
        if step % 13 == 0 and later:  # an entry lapsing at exactly now - duration
            clock.now = rng.choice(later)
        reference = decide(DrfThrottle(rate, ident, clock, local_cache))
        logged = decide(LoggedThrottle(rate, ident, clock, local_cache))
        assert logged == reference, (step, clock.now)
        seen.add(reference[0])
        if reference[0]:
            passed.append(clock.now)
    assert seen == {True, False}


def test_refused_requests_are_not_counted(ident, local_cache):
    clock = Clock(1_000_000.0)
    for _ in range(2):
        assert decide(LoggedThrottle("2/min", ident, clock, local_cache))[0]
    clock.now += 30
    allowed, wait = decide(LoggedThrottle("2/min", ident, clock, local_cache))
    assert not allowed and wait == pytest.approx(30.0)
    for _ in range(5):
        assert not decide(LoggedThrottle("2/min", ident, clock, local_cache))[0]
    clock.now += 30  # the first two lapse; the refusals never counted
    assert decide(LoggedThrottle("2/min", ident, clock, local_cache))[0]


def test_the_log_holds_at_most_the_rate_and_lapses_with_its_period(ident, local_cache):
    clock = Clock(2_000_000.0)
    for _ in range(20):
        decide(LoggedThrottle("5/min", ident, clock, local_cache))
    client = caches["default"].client.get_client(write=True)
    key = caches["default"].make_key(f"throttle_test_{ident}:log")
    assert client.zcard(key) == 5
    assert 0 < client.ttl(key) <= 60


def test_a_concurrent_burst_gets_exactly_the_places_left(ident, local_cache):
    """32 requests at once for 5 places: DRF's read-then-write can let several through per place; this cannot."""
    clock = Clock(3_000_000.0)
    start = threading.Barrier(32)
    allowed = []

    def request():
        throttle = LoggedThrottle("5/min", ident, clock, local_cache)
        start.wait()
        allowed.append(throttle.allow_request(None, None))

    threads = [threading.Thread(target=request) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 5


def test_without_redis_the_throttle_is_drfs(ident, local_cache, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    clock = Clock(4_000_000.0)
    for _ in range(2):
        assert decide(LoggedThrottle("2/min", ident, clock, local_cache))[0]
    assert decide(LoggedThrottle("2/min", ident, clock, local_cache)) == (False, 60.0)
    assert local_cache.get(f"throttle_test_{ident}") == [clock.now, clock.now]  # DRF's own list

"""DRF rate throttles that count with two fixed windows instead of keeping every request's time.

DRF's `SimpleRateThrottle` keeps, per client, the list of its request times in the last period: each request
reads the list, drops the old times, adds its own and writes the list back. That is two cache round trips, and
work that grows with the rate: at a rate of thousands a minute the list is thousands of floats, read and
written whole on every request.

These throttles count requests in fixed windows of the rate's period and estimate the last period's count as the
current window's count plus the previous window's, weighted by how much of it the last period still covers (the
"sliding window counter"). On Redis it is one round trip (INCR, EXPIRE, GET in one pipeline) of constant size.
The estimate assumes the previous window's requests were spread evenly; a burst at its very end is weighted as if
it were spread. A refused request is not counted (as DRF's list does not keep refused requests), and `wait()`
(the 429's Retry-After) is the time until the estimate leaves room for one more request.
"""

from __future__ import annotations

from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle


def _redis_client(cache):
    """The django-redis client behind a cache, or None for another backend (LocMemCache in the embedded mode)."""
    client = getattr(cache, "client", None)
    return client.get_client(write=True) if hasattr(client, "get_client") else None


def _count(cache, current_key: str, previous_key: str, timeout: int) -> tuple[int, int]:
    """Count one request in the current window; return (current window's count with it, previous window's)."""
    redis = _redis_client(cache)
    if redis is not None:
        current, previous = cache.make_key(current_key), cache.make_key(previous_key)
        pipeline = redis.pipeline(transaction=False)
        pipeline.incr(current)
        pipeline.expire(current, timeout)
        pipeline.get(previous)
        count, _, before = pipeline.execute()
        return int(count), int(before or 0)
    cache.add(current_key, 0, timeout)
    try:
        count = cache.incr(current_key)
    except ValueError:  # expired between add and incr
        cache.set(current_key, 1, timeout)
        count = 1
    return count, int(cache.get(previous_key) or 0)


def _uncount(cache, key: str) -> None:
    redis = _redis_client(cache)
    if redis is not None:
        redis.decr(cache.make_key(key))
    else:
        try:
            cache.decr(key)
        except ValueError:
            pass


class SlidingWindowRateThrottle(SimpleRateThrottle):
    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window, into = divmod(self.now, self.duration)
        self.elapsed = into / self.duration
        current_key = f"{self.key}:{int(window)}"
        self.current, self.previous = _count(
            self.cache, current_key, f"{self.key}:{int(window) - 1}", timeout=2 * self.duration
        )
        if self.previous * (1 - self.elapsed) + self.current <= self.num_requests:
            return True
        _uncount(self.cache, current_key)
        self.current -= 1
        return self.throttle_failure()

    def wait(self) -> float:
        """Seconds until one more request fits (after a refusal)."""
        room = self.num_requests - 1
        if self.current > room:  # this window alone is full: wait into the next, until this count fades enough
            fraction = 1 - room / self.current
            return (1 - self.elapsed + fraction) * self.duration
        if self.previous == 0:
            return (1 - self.elapsed) * self.duration
        fraction = 1 - (room - self.current) / self.previous
        return max(fraction - self.elapsed, 0.0) * self.duration


class ScopedSlidingWindowThrottle(ScopedRateThrottle, SlidingWindowRateThrottle):
    """DRF's ScopedRateThrottle (the rate of the view's `throttle_scope`), counted as SlidingWindowRateThrottle."""

"""DRF's rate throttles with each client's request log kept in a Redis sorted set, decided in one atomic step.

DRF's `SimpleRateThrottle` reads a client's list of request times from the cache, trims it, and writes it back:
two round trips, the whole list pickled both ways (at 1,000 a minute, 1,000 floats on every request), and two
requests that read the list at once both pass where only one place was left. Here one Lua script run by Redis
trims the log, counts it, and either adds the request or answers the oldest time left: one round trip of
constant size, atomic, so a burst of concurrent requests gets exactly the places left.

The decisions are DRF's own: a request passes while fewer than `num_requests` passed in the last `duration`
seconds (an entry at exactly `now - duration` has lapsed), refused requests are not counted, and `wait()` (the
Retry-After) is computed from the same log by DRF's formula. With a cache that is not Redis (the embedded mode's
process-local cache) the throttle is DRF's unchanged.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from core.redis_cache import DJANGO_REDIS_BACKENDS

# KEYS[1]: the log. ARGV: now, now - duration (both as Python wrote them: no float goes through Lua's
# formatting), duration in whole seconds, num_requests, this request's member.
# Returns {1} when the request is added, else {0, entries in the log, oldest entry's time}.
DECIDE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[4]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, count, oldest[2] or ARGV[1]}
"""

_script = None  # the registered script (its digest); each call names the client it runs on


def _redis_client():
    """The default cache's raw redis-py client when it is django-redis (ours included), else None."""
    if settings.CACHES["default"]["BACKEND"] not in DJANGO_REDIS_BACKENDS:
        return None
    return caches["default"].client.get_client(write=True)


class SortedSetRateThrottle(SimpleRateThrottle):
    """`SimpleRateThrottle` with its log in a Redis sorted set: the same decisions, one atomic step."""

    def allow_request(self, request, view) -> bool:
        client = _redis_client()
        if client is None:
            return super().allow_request(request, view)  # DRF's list in the cache
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        global _script
        if _script is None:
            _script = client.register_script(DECIDE)
        decided = _script(
            keys=[caches["default"].make_key(f"{self.key}:log")],
            args=[
                repr(self.now),
                repr(self.now - self.duration),
                int(self.duration),
                self.num_requests,
                f"{self.now!r}:{uuid.uuid4().hex}",
            ],
            client=client,
        )
        if int(decided[0]) == 1:
            return True
        self.logged_count, self.logged_oldest = int(decided[1]), float(decided[2])
        return self.throttle_failure()

    def wait(self) -> float | None:
        if not hasattr(self, "logged_count"):
            return super().wait()
        remaining_duration = self.duration - (self.now - self.logged_oldest)
        available_requests = self.num_requests - self.logged_count + 1
        if available_requests <= 0:
            return None
        return remaining_duration / float(available_requests)


class ScopedSortedSetRateThrottle(ScopedRateThrottle, SortedSetRateThrottle):
    """DRF's `ScopedRateThrottle` (the rate of the view's `throttle_scope`) on the sorted-set log."""

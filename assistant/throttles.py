"""The per-user "generation" throttle (rate in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], counted in the
default cache: in Redis, an atomic sorted-set log, core.throttling). Only requests that start generation (POST)
count."""

from rest_framework.request import Request

from core.throttling import ScopedSortedSetRateThrottle


class GenerationThrottle(ScopedSortedSetRateThrottle):
    def allow_request(self, request: Request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

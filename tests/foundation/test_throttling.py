"""core.throttling: a sliding-window counter with DRF's throttle interface, on Redis (the tests' cache) and on the
embedded mode's LocMemCache, with a clock the test moves."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.throttling import ScopedSlidingWindowThrottle


class View:
    throttle_scope = "test-window"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["redis", "locmem"])
def throttle_class(request, settings):
    """A throttle of 4 requests a minute, counted in the tests' Redis cache or in a process-local cache."""
    if request.param == "locmem":
        settings.CACHES = {**settings.CACHES, "window": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        cache = caches["window"]
    else:
        cache = caches["default"]
    assert (request.param == "redis") == hasattr(getattr(cache, "client", None), "get_client")
    clock = Clock(16_667 * 60 + 20.0)  # 20 s into a minute window
    throttle = type(
        "Throttle",
        (ScopedSlidingWindowThrottle,),
        {"THROTTLE_RATES": {"test-window": "4/min"}, "cache": cache, "timer": clock},
    )
    throttle.clock = clock
    cache.delete_many(
        [f"throttle_test-window_{ident}:{window}" for ident in ("10.0.0.1",) for window in range(16665, 16670)]
    )
    yield throttle
    cache.delete_many(
        [f"throttle_test-window_{ident}:{window}" for ident in ("10.0.0.1",) for window in range(16665, 16670)]
    )


def attempt(throttle_class) -> ScopedSlidingWindowThrottle | None:
    """One request from 10.0.0.1: None when allowed, the throttle (for its wait()) when refused."""
    request = Request(APIRequestFactory().post("/", REMOTE_ADDR="10.0.0.1"))
    throttle = throttle_class()
    return None if throttle.allow_request(request, View()) else throttle


def test_the_rate_is_kept_within_a_window_and_a_refusal_is_not_counted(throttle_class):
    assert [attempt(throttle_class) for _ in range(4)] == [None] * 4
    refused = attempt(throttle_class)
    assert refused is not None and attempt(throttle_class) is not None
    # This window alone is full: the next request fits once its count has faded enough in the next window
    # (4 x (1 - e) + 1 <= 4, e >= 1/4): 40 s left of this window, then 15 s into the next.
    assert refused.wait() == pytest.approx(55.0)
    throttle_class.clock.now += 54.0
    assert attempt(throttle_class) is not None
    throttle_class.clock.now += 1.5
    assert attempt(throttle_class) is None  # the refused requests were not counted: 4 x 0.725 + 1 <= 4


def test_the_previous_windows_count_fades_as_the_window_slides(throttle_class):
    assert [attempt(throttle_class) for _ in range(2)] == [None] * 2  # 2 at 20 s into the window
    throttle_class.clock.now += 40.0 + 30.0  # half-way into the next window: 2 x 0.5 = 1 counted
    assert [attempt(throttle_class) for _ in range(3)] == [None] * 3  # 1 + 3 = 4
    refused = attempt(throttle_class)
    assert refused is not None
    # 2 x (1 - e) + 3 + 1 <= 4 needs e = 1: the rest of this window
    assert refused.wait() == pytest.approx(30.0)
    throttle_class.clock.now += 30.0
    assert attempt(throttle_class) is None  # now the 3 are the previous window, at full weight: 3 + 1
    assert attempt(throttle_class) is not None

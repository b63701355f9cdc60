"""The cache backend's client is made once per process and configuration (core/redis_cache.py), not once per
request, and sharing it keeps every request's reads and writes its own. Real Redis (the test settings' cache)."""

from __future__ import annotations

import threading
import uuid
from copy import deepcopy

import pytest
from django.conf import settings
from django.core.cache import caches

from core.redis_cache import RedisCache

pytestmark = pytest.mark.skipif(
    settings.CACHES["default"]["BACKEND"] != "core.redis_cache.RedisCache", reason="the cache is not Redis here"
)


def backend(**options) -> RedisCache:
    params = deepcopy(settings.CACHES["default"])
    params.pop("BACKEND")
    location = params.pop("LOCATION")
    params.setdefault("OPTIONS", {}).update(options)
    return RedisCache(location, params)


def test_backends_of_one_configuration_share_one_client():
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second
    assert first.client is second.client
    key = f"shared-{uuid.uuid4()}"
    first.set(key, {"a": 1}, timeout=30)
    assert second.get(key) == {"a": 1}
    second.delete(key)
    assert first.get(key) is None


def test_each_request_context_has_its_own_backend_on_the_one_client():
    """`caches` is not thread critical: each thread (as each async context) gets a backend of its own; they all
    reach Redis through one client, and none sees another's values in place of its own."""
    backends, errors = [], []

    def work(index: int) -> None:
        cache = caches["default"]
        backends.append(cache)
        for round_ in range(50):
            key = f"thread-{index}-{round_}-{uuid.uuid4()}"
            cache.set(key, (index, round_), timeout=30)
            if cache.get(key) != (index, round_):
                errors.append((index, round_))
            cache.delete(key)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({id(cache) for cache in backends}) == 8
    assert len({id(cache.client) for cache in backends}) == 1


def test_another_configuration_has_a_client_of_its_own():
    plain, same = backend(), backend()
    assert plain.client is same.client

    other = backend(SOCKET_TIMEOUT=5)
    assert other.client is not plain.client
    key = f"config-{uuid.uuid4()}"
    other.set(key, "x", timeout=30)
    assert plain.get(key) == "x"  # the same server and database: only the client differs
    other.delete(key)


def test_with_close_connection_each_backend_keeps_its_own_client():
    first, second = backend(CLOSE_CONNECTION=True), backend(CLOSE_CONNECTION=True)
    assert first.client is not second.client
    key = f"close-{uuid.uuid4()}"
    first.set(key, 1, timeout=30)
    first.close()
    assert second.get(key) == 1  # closing one backend's connections leaves the other's working
    second.delete(key)

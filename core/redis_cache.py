"""django-redis's cache backend, with one client per process for each cache configuration.

Django keeps a cache backend per async context: under ASGI every request gets a new one (`caches` is not thread
critical), and django-redis's backend makes a new client for it on its first command: its serializer, compressor
and connection factory imported and built again, and a new `redis.Redis`, which copies redis-py's table of some
200 response callbacks. The connection pool behind it is already kept per process (django-redis's
`ConnectionFactory._pools`); the client was not. That added 94 us to the first cache read of every request that
reads the cache (each authenticated one, for the token cache; each throttled one), against 129 us for the read
itself (in-process, CPU clock).

Here the backends of one configuration share one client. Its state is the configuration's (server, options,
key function, serializer) and the pool's; it refers back to the first backend for what every backend of that
configuration answers alike (`make_key`, the default timeout). A redis-py client is safe to share between
threads (each command takes a connection from the pool, which resets itself in a forked child). With
`CLOSE_CONNECTION`, closing a backend disconnects its client's pool, which would cut the commands of other
requests: that configuration keeps a client per backend, as django-redis does.
"""

from __future__ import annotations

import threading
from typing import Any

from django_redis.cache import RedisCache as DjangoRedisCache

# The cache backends that are django-redis (this one included): their `client.get_client()` is a redis-py client.
DJANGO_REDIS_BACKENDS = ("core.redis_cache.RedisCache", "django_redis.cache.RedisCache")


class RedisCache(DjangoRedisCache):
    _shared_clients: dict[str, Any] = {}  # process-global: configuration -> client
    _lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            if self._params.get("OPTIONS", {}).get("CLOSE_CONNECTION"):
                return super().client
            key = repr((self._server, sorted(self._params.items())))
            client = self._shared_clients.get(key)
            if client is None:
                with self._lock:
                    client = self._shared_clients.get(key)
                    if client is None:
                        client = self._client_cls(self._server, self._params, self)
                        self._shared_clients[key] = client
            self._client = client
        return self._client

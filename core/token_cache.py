"""A shared cache of verified API tokens, so that a request with a known token costs one cache read instead of
knox's token query (with its user): on the service's job poll that query was about 40% of the server's work.

Entries live in Django's cache (Redis in production, shared by every web process), keyed by the token's knox
digest, and hold the token row's fields with its user's, as loaded from the database, except the password hash (it stays
deferred: it never leaves the database). They are never trusted to be fresh on their own:

* **Revocation is immediate.** Deleting a token (logout, logout-all, the admin, an account deletion's cascade)
  or saving its user (deactivated, made staff, password changed) replaces the entries of the tokens concerned
  with a *tombstone*, in the same thread, before the change is even committed, and once more when it commits
  (the user's tokens read again then, so a token made meanwhile is covered too). A tombstone reads as a miss,
  so the request goes to the database, which is authoritative; and an entry is only ever written with
  `cache.add` (written when the key is absent), so a request that read the row just before the change cannot
  put it back while the tombstone lasts (`TOMBSTONE_SECONDS`, far longer than a request's read-then-add).
  Every process with a shared cache writes tombstones, even one that reads no entries
  (`AUTH_TOKEN_CACHE_SECONDS=0`), so turning the cache off on some processes never strands an entry.
* **Expiry is checked on every request** from the cached row's own `expiry`, as knox does.
* Writes that send no model signals (`QuerySet.update()` on users or tokens, raw SQL) are seen within
  `AUTH_TOKEN_CACHE_SECONDS` (default 60), the entries' lifetime. The service makes none.
* A save of only `last_login` (each login) changes nothing authentication reads, so it keeps the entries.

* **Each process keeps the entries it read** (`AUTH_TOKEN_LOCAL_ENTRIES`, core.tracked_reads), so a known token
  costs no Redis round trip either: Redis reports every change of an entry (a tombstone included) to every
  process in the same pass as the writer's reply, and a process applies those reports before it answers from a
  copy (a copy lives 10 s at most, and none while the reporting connection is down or silent).

`AUTH_TOKEN_CACHE_SECONDS=0` turns the cache off. It is also off unless the cache is shared by every process
(Redis or memcached; not the embedded mode's LocMemCache, where one process's tombstone would not reach another's
entries). A cache that cannot be read or written is a miss: the request reads the database, as without the cache;
only a tombstone that cannot be written fails the revoking request (and its transaction), so revocation is never
lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from knox.models import AuthToken

from core.redis_cache import DJANGO_REDIS_BACKENDS
from core.tracked_reads import TrackedReads

logger = logging.getLogger(__name__)

TOMBSTONE = "revoked"
TOMBSTONE_SECONDS = 30
KEY_PREFIX = "auth-token:"
REDIS_BACKENDS = (*DJANGO_REDIS_BACKENDS, "django.core.cache.backends.redis.RedisCache")
SHARED_BACKENDS = (
    *REDIS_BACKENDS,
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
)
UNCACHED_USER_FIELDS = {"password"}
# A process's own copy of an entry (core.tracked_reads) is dropped the moment Redis reports a change of the entry,
# and kept at most this long in any case.
LOCAL_COPY_SECONDS = 10.0
_local_copies_by_configuration: dict[tuple, TrackedReads] = {}
_local_copies_lock = threading.Lock()


def shared() -> bool:
    """Whether the default cache is one store for every process (so a tombstone reaches every reader)."""
    return settings.CACHES["default"]["BACKEND"] in SHARED_BACKENDS


def enabled() -> bool:
    return settings.AUTH_TOKEN_CACHE_SECONDS > 0 and shared()


def _key(digest: str) -> str:
    return KEY_PREFIX + digest


def _entry(auth_token) -> dict[str, Any]:
    user = auth_token.user
    return {
        "token": {field.attname: getattr(auth_token, field.attname) for field in AuthToken._meta.concrete_fields},
        "user": {
            field.attname: getattr(user, field.attname)
            for field in type(user)._meta.concrete_fields
            if field.attname not in UNCACHED_USER_FIELDS
        },
    }


def _rows(entry: dict[str, Any]):
    user_model = get_user_model()
    user = user_model.from_db("default", list(entry["user"]), list(entry["user"].values()))
    auth_token = AuthToken.from_db("default", list(entry["token"]), list(entry["token"].values()))
    AuthToken.user.field.set_cached_value(auth_token, user)
    return auth_token


def _local_copies() -> TrackedReads | None:
    """This process's copies of the entries (core.tracked_reads), for a cache on one Redis server; else None."""
    config = settings.CACHES["default"]
    location = config.get("LOCATION")
    if settings.AUTH_TOKEN_LOCAL_ENTRIES <= 0 or config["BACKEND"] not in REDIS_BACKENDS:
        return None
    if not isinstance(location, str) or "," in location:  # several servers: which one a key lives on varies
        return None
    prefix = caches["default"].make_key(KEY_PREFIX)
    signature = (location, prefix, settings.AUTH_TOKEN_LOCAL_ENTRIES)
    copies = _local_copies_by_configuration.get(signature)
    if copies is None:
        with _local_copies_lock:
            copies = _local_copies_by_configuration.setdefault(
                signature,
                TrackedReads(
                    location, prefix, max_entries=settings.AUTH_TOKEN_LOCAL_ENTRIES, max_age=LOCAL_COPY_SECONDS
                ),
            )
    return copies


def token_cached(digest: str):
    """The token row (with its user) cached for this digest, or None: not cached, tombstoned, or cache off."""
    if not enabled():
        return None
    cache = caches["default"]
    try:
        copies = _local_copies()
        if copies is None:
            entry = cache.get(_key(digest))
        else:
            entry = copies.get(cache.make_key(_key(digest)), lambda: cache.get(_key(digest)))
    except Exception:  # the database answers instead, as without the cache
        logger.warning("token cache unreadable; reading the token from the database", exc_info=True)
        return None
    return _rows(entry) if isinstance(entry, dict) else None


def token_remember(auth_token) -> None:
    """Cache a token row just verified against the database (its user loaded); never over a tombstone."""
    if not enabled():
        return
    try:
        caches["default"].add(_key(auth_token.digest), _entry(auth_token), timeout=settings.AUTH_TOKEN_CACHE_SECONDS)
    except Exception:
        logger.warning("token cache unwritable; the token stays uncached", exc_info=True)


def tokens_forget(digests: Iterable[str]) -> None:
    """Tombstone these tokens' entries: until the tombstones lapse, they are read from the database only.
    Written whenever the cache is shared, and an error propagates: a revocation must not pass silently."""
    keys = [_key(digest) for digest in digests]
    if keys and shared():
        caches["default"].set_many(dict.fromkeys(keys, TOMBSTONE), timeout=TOMBSTONE_SECONDS)


def _forget_now_and_at_commit(forget: Callable[[], None]) -> None:
    forget()
    transaction.on_commit(forget)


def _token_deleted(sender, instance, **kwargs) -> None:
    digest = instance.digest
    _forget_now_and_at_commit(lambda: tokens_forget([digest]))


def _user_saved(sender, instance, update_fields=None, created=False, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a new user has no tokens; a login's last_login changes nothing authentication reads
    if shared():
        user_id = instance.pk
        # read at commit again too: a token made meanwhile is covered
        _forget_now_and_at_commit(
            lambda: tokens_forget(AuthToken.objects.filter(user_id=user_id).values_list("digest", flat=True))
        )


def signals_connect() -> None:
    """Tombstone on every change that can revoke a token (core.apps, at start, in every process)."""
    post_delete.connect(_token_deleted, sender=AuthToken, dispatch_uid="token-cache-token-deleted")
    post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="token-cache-user-saved")

"""A shared cache of verified API tokens, so that a request with a known token costs one cache read instead of
knox's token query (with its user): on the service's job poll that query was about 40% of the server's work.

Entries live in Django's cache (Redis in production, shared by every web process), keyed by the token's knox
digest, and hold the token row with its user as loaded from the database. They are never trusted to be fresh
on their own:

* **Revocation is immediate.** Deleting a token (logout, logout-all, the admin, an account deletion's cascade)
  or saving its user (deactivated, made staff, password changed) replaces the entries of the tokens concerned
  with a *tombstone*, in the same thread, before the change is even committed. A tombstone reads as a miss, so
  the request goes to the database, which is authoritative; and an entry is only ever written with
  `cache.add` (written when the key is absent), so a request that read the row just before the change cannot
  put it back while the tombstone lasts (`TOMBSTONE_SECONDS`, far longer than a request's read-then-add).
* **Expiry is checked on every request** from the cached row's own `expiry`, as knox does.
* Writes that send no model signals (`QuerySet.update()` on users or tokens, raw SQL) are seen within
  `AUTH_TOKEN_CACHE_SECONDS` (default 60), the entries' lifetime. The service makes none.
* A save of only `last_login` (each login) changes nothing authentication reads, so it keeps the entries.

`AUTH_TOKEN_CACHE_SECONDS=0` turns the cache off. It is also off when the cache is process-local (the embedded
mode's LocMemCache): one process's tombstone would not reach another's entries.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db.models.signals import post_delete, post_save
from knox.models import AuthToken

TOMBSTONE = "revoked"
TOMBSTONE_SECONDS = 30
KEY_PREFIX = "auth-token:"


def enabled() -> bool:
    return settings.AUTH_TOKEN_CACHE_SECONDS > 0 and not isinstance(cache, LocMemCache)


def _key(digest: str) -> str:
    return KEY_PREFIX + digest


def token_cached(digest: str):
    """The token row (with its user) cached for this digest, or None: not cached, tombstoned, or cache off."""
    if not enabled():
        return None
    entry = cache.get(_key(digest))
    return None if entry is None or entry == TOMBSTONE else entry


def token_remember(auth_token) -> None:
    """Cache a token row just verified against the database (its user loaded); never over a tombstone."""
    if enabled():
        cache.add(_key(auth_token.digest), auth_token, timeout=settings.AUTH_TOKEN_CACHE_SECONDS)


def tokens_forget(digests: Iterable[str]) -> None:
    """Tombstone these tokens' entries: until the tombstones lapse, they are read from the database only."""
    keys = [_key(digest) for digest in digests]
    if keys and enabled():
        cache.set_many(dict.fromkeys(keys, TOMBSTONE), timeout=TOMBSTONE_SECONDS)


def _token_deleted(sender, instance, **kwargs) -> None:
    tokens_forget([instance.digest])


def _user_saved(sender, instance, update_fields=None, created=False, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a new user has no tokens; a login's last_login changes nothing authentication reads
    if enabled():
        tokens_forget(AuthToken.objects.filter(user=instance).values_list("digest", flat=True))


def signals_connect() -> None:
    """Tombstone on every change that can revoke a token (core.apps, at start, in every process)."""
    post_delete.connect(_token_deleted, sender=AuthToken, dispatch_uid="token-cache-token-deleted")
    post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="token-cache-user-saved")

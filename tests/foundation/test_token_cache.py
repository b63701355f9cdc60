"""The shared cache of verified tokens (core/token_cache.py): a known token costs no query, and every change that
revokes a token (logout, logout-all, deactivation, account deletion, expiry) takes effect on the next request,
even for a token that was cached. Real Redis (the test settings' cache), real knox tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken

from core import authentication, token_cache

pytestmark = pytest.mark.django_db

PRINCIPLES = "/api/v1/principles/"


def token_queries(client) -> tuple[int, int]:
    """(status, queries of knox's token table) of one authenticated request."""
    with CaptureQueriesContext(connection) as queries:
        status = client.get(PRINCIPLES).status_code
    return status, sum("knox_authtoken" in query["sql"] for query in queries.captured_queries)


def refused(client) -> bool:
    response = client.get(PRINCIPLES)
    return response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_a_known_token_is_not_read_from_the_database_again(alice_client):
    assert token_cache.enabled()
    assert token_queries(alice_client) == (200, 1)
    assert token_queries(alice_client) == (200, 0)
    assert token_queries(alice_client) == (200, 0)


def test_with_the_cache_off_every_request_reads_the_token(alice_client, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0
    assert not token_cache.enabled()
    assert token_queries(alice_client) == (200, 1)
    assert token_queries(alice_client) == (200, 1)


def test_logout_revokes_a_cached_token_at_once(alice, auth_client):
    laptop, phone = auth_client(alice), auth_client(alice)
    for client in (laptop, phone):
        assert token_queries(client) == (200, 1)
    assert laptop.post("/api/v1/auth/logout/").status_code == 204
    assert refused(laptop)
    assert token_queries(phone) == (200, 0)  # the other device's token stays cached


def test_logoutall_revokes_every_cached_token_of_the_user(alice, bob, auth_client):
    laptop, phone, bobs = auth_client(alice), auth_client(alice), auth_client(bob)
    for client in (laptop, phone, bobs):
        assert token_queries(client)[0] == 200
    assert laptop.post("/api/v1/auth/logoutall/").status_code == 204
    assert refused(laptop) and refused(phone)
    assert token_queries(bobs) == (200, 0)


def test_a_deactivated_user_is_refused_at_once(alice, alice_client):
    assert token_queries(alice_client)[0] == 200
    alice.is_active = False
    alice.save()
    assert refused(alice_client)


def test_a_user_change_is_seen_at_once(alice, alice_client, monkeypatch):
    assert token_queries(alice_client)[0] == 200
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    request_user = []
    original = authentication.TokenAuthentication.validate_user

    def spy(self, auth_token):
        request_user.append(auth_token.user)
        return original(self, auth_token)

    monkeypatch.setattr(authentication.TokenAuthentication, "validate_user", spy)
    assert token_queries(alice_client) == (200, 1)  # read again after the change
    assert request_user[0].is_staff


def test_a_login_keeps_the_users_other_tokens_cached(alice, alice_client, api_client):
    from tests.factories import DEFAULT_PASSWORD

    assert token_queries(alice_client)[0] == 200
    response = api_client.post("/api/v1/auth/login/", {"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert token_queries(alice_client) == (200, 0)


def test_a_deleted_account_is_refused_at_once(alice_client):
    assert token_queries(alice_client)[0] == 200
    assert alice_client.delete("/api/v1/me/").status_code == 204
    assert refused(alice_client)


def test_an_expired_cached_token_is_refused_and_deleted(alice, monkeypatch):
    auth_token, token = AuthToken.objects.create(user=alice, expiry=timedelta(hours=1))
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert token_queries(client) == (200, 1)
    assert token_queries(client) == (200, 0)
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(authentication.timezone, "now", lambda: later)
    assert refused(client)
    assert not AuthToken.objects.filter(pk=auth_token.pk).exists()


def test_a_row_read_before_a_revocation_cannot_be_cached_after_it(alice, alice_client):
    """The race the tombstone closes: a request reads the token row, the token is revoked, then that request
    caches what it read. The entry must not be written, and the token must stay refused."""
    stale = AuthToken.objects.select_related("user").get(user=alice)
    AuthToken.objects.get(pk=stale.pk).delete()  # logout in another request: the entry becomes a tombstone
    token_cache.token_remember(stale)  # the slow request's write comes after it
    assert token_cache.token_cached(stale.digest) is None
    assert refused(alice_client)


def test_the_cache_is_off_unless_every_process_shares_it(settings):
    assert token_cache.enabled()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not token_cache.shared() and not token_cache.enabled()


def test_the_password_hash_is_not_cached(alice, alice_client):
    assert token_queries(alice_client) == (200, 1)
    digest = AuthToken.objects.get(user=alice).digest
    entry = caches["default"].get(token_cache._key(digest))
    assert entry["user"]["username"] == "alice" and "password" not in entry["user"]
    cached = token_cache.token_cached(digest)
    assert cached.user.pk == alice.pk and "password" in cached.user.get_deferred_fields()


def test_an_unreadable_cache_falls_back_to_the_database(alice_client, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(caches["default"], "get", broken)
    monkeypatch.setattr(caches["default"], "add", broken)
    assert token_queries(alice_client) == (200, 1)
    assert token_queries(alice_client) == (200, 1)


def test_a_process_that_reads_no_entries_still_revokes_them(alice_client, settings):
    assert token_queries(alice_client) == (200, 1)
    settings.AUTH_TOKEN_CACHE_SECONDS = 0  # e.g. a management command, or a process rolled out with the cache off
    assert alice_client.post("/api/v1/auth/logout/").status_code == 204
    settings.AUTH_TOKEN_CACHE_SECONDS = 60
    assert refused(alice_client)


def test_the_commit_tombstones_the_users_tokens_again(alice, alice_client, django_capture_on_commit_callbacks):
    """A tombstone written before the commit may lapse during a long transaction, or miss a token made
    meanwhile: the commit writes them again, for the tokens the user has then."""
    assert token_queries(alice_client)[0] == 200
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        alice.is_active = False
        alice.save()
    digests = list(AuthToken.objects.filter(user=alice).values_list("digest", flat=True))
    caches["default"].delete_many([token_cache._key(digest) for digest in digests])  # the tombstones lapsed
    for callback in callbacks:
        callback()
    assert all(caches["default"].get(token_cache._key(d)) == token_cache.TOMBSTONE for d in digests)


def redis_gets() -> int:
    """GET commands the Redis server has run so far."""
    stats = caches["default"].client.get_client().info("commandstats")
    return stats.get("cmdstat_get", {}).get("calls", 0)


def test_a_known_token_costs_no_redis_read_either(alice_client):
    """Each process keeps the entries it read (core.tracked_reads), dropped when Redis changes them."""
    assert token_queries(alice_client) == (200, 1)
    assert token_queries(alice_client) == (200, 0)  # read from Redis, and kept
    before = redis_gets()
    for _ in range(5):
        assert token_queries(alice_client) == (200, 0)
    assert redis_gets() == before


def test_with_no_local_copies_each_request_reads_redis(alice_client, settings):
    settings.AUTH_TOKEN_LOCAL_ENTRIES = 0
    assert token_queries(alice_client) == (200, 1)
    before = redis_gets()
    for _ in range(5):
        assert token_queries(alice_client) == (200, 0)
    assert redis_gets() == before + 5


def test_a_revocation_in_another_process_reaches_this_processs_copy(alice, alice_client):
    """The tombstone is written by another process (as a logout served by another web worker): this process's
    copy of the entry is gone by the time that process's write returns."""
    assert token_queries(alice_client) == (200, 1)
    assert token_queries(alice_client) == (200, 0)
    digest = AuthToken.objects.get(user=alice).digest
    assert token_cache.token_cached(digest) is not None
    script = f"import django; django.setup()\nfrom core import token_cache\ntoken_cache.tokens_forget([{digest!r}])\n"
    subprocess.run([sys.executable, "-c", script], check=True, env=os.environ.copy(), timeout=60)
    assert token_cache.token_cached(digest) is None

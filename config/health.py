"""Liveness (/healthz: the process answers) and readiness (/readyz: PostgreSQL and Redis answer). No auth."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from core.exception_handler import error_body

REDIS_TIMEOUT_SECONDS = 2.0


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the message says which
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_redis() -> str | None:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every configured dependency answers; 503 naming the ones that do not.

    Redis is "not_configured" in the embedded mode (no REDIS_URL): nothing then depends on it.
    """
    failures = {"database": _check_database()}
    if settings.REDIS_URL:
        failures["redis"] = _check_redis()
    checks = {name: "ok" if failure is None else "error" for name, failure in failures.items()}
    checks.setdefault("redis", "not_configured")
    failed = {name: [failure] for name, failure in failures.items() if failure is not None}
    if failed:
        body = {"status": "unavailable", "checks": checks}
        body.update(error_body("not_ready", "Not ready: " + ", ".join(failed) + " unreachable.", failed))
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": checks})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]

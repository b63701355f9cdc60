"""/healthz and /readyz: JSON, no auth; readiness names the dependency that fails."""

import pytest


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_with_database_and_redis(client, settings):
    assert settings.REDIS_URL, "tests run with REDIS_URL set (see COMMON.md / Makefile)"
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_readyz_names_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "redis": "error"}
    assert body["error"]["code"] == "not_ready"
    assert "redis" in body["error"]["message"]
    assert list(body["error"]["fields"]) == ["redis"]


@pytest.mark.django_db
def test_readyz_without_redis_configured(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "not_configured"}


def test_readyz_names_unreachable_database(client, settings):
    """No database access is allowed in this test: the check fails and says so, the endpoint does not crash."""
    response = client.get("/readyz")
    assert response.status_code == 503
    assert list(response.json()["error"]["fields"]) == ["database"]


def test_health_rejects_writes(client):
    response = client.post("/healthz")
    assert response.status_code == 405

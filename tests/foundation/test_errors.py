"""The JSON error shape for Django-level errors and the body limit."""

import pytest


def test_unknown_url_is_json_404(db, api_client):
    response = api_client.get("/no/such/page/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


@pytest.mark.django_db
def test_api_requires_authentication_with_json_401(api_client):
    response = api_client.get("/api/v1/principles/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.urls("tests.foundation.boom_urls")
@pytest.mark.parametrize("path", ["/boom/", "/api-boom/"])
def test_unexpected_errors_are_json_500_without_details(db, client, path):
    client.raise_request_exception = False
    response = client.get(path)
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "server_error", "message": "Internal server error.", "fields": {}}}


def test_csrf_failure_is_json(db, alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "alice", "password": "x"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_session_auth_api_write_without_csrf_token_is_json_403(db, alice):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/principles/", {"text": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "CSRF" in response.json()["error"]["message"]


def test_invalid_content_length_is_400(db, client):
    response = client.generic(
        "POST", "/api/v1/auth/login/", b"{}", content_type="application/json", CONTENT_LENGTH="abc"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_oversized_login_body_is_413(db, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post(
        "/api/v1/auth/login/", {"username": "a" * 200, "password": "x"}, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_chunked_body_without_length_is_411(db, client):
    response = client.generic(
        "POST", "/api/v1/auth/login/", b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"

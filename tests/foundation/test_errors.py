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

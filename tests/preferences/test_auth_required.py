"""Every principle endpoint refuses anonymous and bad-token requests with a JSON 401, changing nothing."""

import pytest
from rest_framework.test import APIClient

from tests.preferences.conftest import url

ENDPOINTS = [
    ("get", "/api/v1/principles/"),
    ("post", "/api/v1/principles/"),
    ("get", "{}"),
    ("put", "{}"),
    ("patch", "{}"),
    ("delete", "{}"),
    ("get", "{}versions/"),
    ("get", "{}versions/1/"),
    ("post", "{}versions/1/restore/"),
]


@pytest.mark.parametrize("credentials", [None, "Token not-a-real-token", "Bearer x", "Token "])
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_requires_authentication(credentials, method, path, alice_principle, stored_state):
    client = APIClient()
    if credentials is not None:
        client.credentials(HTTP_AUTHORIZATION=credentials)
    before = stored_state()
    response = getattr(client, method)(path.format(url(alice_principle.pk)), {"text": "x"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}
    assert stored_state() == before


def test_session_auth_works_for_the_browsable_api(alice, alice_principle):
    client = APIClient()
    client.force_login(alice)
    assert client.get(url(alice_principle.pk)).status_code == 200

"""Bob and Charlie try every endpoint on Alice's principle: always 404, never data, nothing changes."""

import pytest

from tests.preferences.conftest import url

ENDPOINTS = [
    ("get", ""),
    ("put", ""),
    ("patch", ""),
    ("delete", ""),
    ("get", "versions/"),
    ("get", "versions/1/"),
    ("post", "versions/1/restore/"),
]
BODY = {"text": "Hijacked.", "weight": 5.0, "active": False}


@pytest.mark.parametrize("intruder", ["bob_client", "charlie_client"])
@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
def test_other_users_get_404_and_change_nothing(request, intruder, method, suffix, alice_principle, stored_state):
    client = request.getfixturevalue(intruder)
    before = stored_state()
    body = {} if suffix.endswith("restore/") else BODY
    response = getattr(client, method)(url(alice_principle.pk, suffix), body, format="json")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such principle.", "fields": {}}}
    assert "Hijacked" not in response.content.decode()
    assert stored_state() == before


@pytest.mark.parametrize("intruder", ["bob_client", "charlie_client"])
def test_other_users_lists_do_not_show_it(request, intruder, alice_principle):
    client = request.getfixturevalue(intruder)
    assert client.get("/api/v1/principles/").json()["count"] == 0


def test_stale_etag_is_not_checked_before_ownership(bob_client, alice_principle):
    """A wrong If-Match on someone else's principle still gets 404, so ETags reveal nothing."""
    response = bob_client.patch(url(alice_principle.pk), BODY, format="json", HTTP_IF_MATCH='"1-1-1"')
    assert response.status_code == 404


def test_nonexistent_ids_are_404(alice_client, alice_principle):
    for path in [url(alice_principle.pk + 1000), url(alice_principle.pk, "versions/99/")]:
        assert alice_client.get(path).status_code == 404

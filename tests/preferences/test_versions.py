"""Version history: list, retrieve and restore."""

from preferences.models import PrincipleVersion
from tests.preferences.conftest import url


def test_versions_list_newest_first(alice, alice_client, alice_principle):
    response = alice_client.get(url(alice_principle.pk, "versions/"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [(v["number"], v["text"], v["created_by"]) for v in body["results"]] == [
        (2, "Reply in French, briefly.", "alice"),
        (1, "Reply in French.", "alice"),
    ]


def test_version_retrieve(alice_client, alice_principle):
    body = alice_client.get(url(alice_principle.pk, "versions/1/")).json()
    assert (body["number"], body["text"], body["title"], body["weight"]) == (1, "Reply in French.", "Language", 1.5)
    assert alice_client.get(url(alice_principle.pk, "versions/3/")).status_code == 404


def test_restore_makes_a_new_version_with_old_content(alice_client, alice_principle):
    alice_client.delete(url(alice_principle.pk))  # version 3: inactive
    response = alice_client.post(url(alice_principle.pk, "versions/1/restore/"), format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["version"], body["text"], body["weight"], body["active"]) == (4, "Reply in French.", 1.5, False)
    numbers = PrincipleVersion.objects.filter(principle=alice_principle).values_list("number", "text")
    assert list(numbers.order_by("number"))[-1] == (4, "Reply in French.")
    assert response["ETag"] == alice_client.get(url(alice_principle.pk))["ETag"]


def test_restore_missing_version_is_404_and_changes_nothing(alice_client, alice_principle, stored_state):
    before = stored_state()
    response = alice_client.post(url(alice_principle.pk, "versions/99/restore/"), format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert stored_state() == before


def test_restore_with_stale_if_match_is_412(alice_client, alice_principle, stored_state):
    stale = alice_principle.etag
    alice_client.patch(url(alice_principle.pk), {"title": "Changed"}, format="json")
    before = stored_state()
    response = alice_client.post(url(alice_principle.pk, "versions/1/restore/"), HTTP_IF_MATCH=stale)
    assert response.status_code == 412
    assert stored_state() == before


def test_restore_rejects_a_body_with_fields(alice_client, alice_principle, stored_state):
    before = stored_state()
    response = alice_client.post(url(alice_principle.pk, "versions/1/restore/"), {"text": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"text": ["Unknown field."]}
    assert stored_state() == before

"""Create, list, retrieve, update and delete principles through the API."""

import pytest

from preferences.models import Principle, PrincipleVersion
from tests.factories import PrincipleFactory
from tests.preferences.conftest import url

LIST = "/api/v1/principles/"


def test_create_returns_version_one_with_etag(alice, alice_client):
    response = alice_client.post(LIST, {"text": "  Be concise.  ", "title": " Style ", "weight": 2.5}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["text"] == "Be concise."
    assert body["title"] == "Style"
    assert body["weight"] == 2.5
    assert body["active"] is True
    assert body["version"] == 1
    principle = Principle.objects.get(pk=body["id"])
    assert principle.owner == alice
    assert response["ETag"] == principle.etag
    assert response["Location"].endswith(f"/api/v1/principles/{principle.pk}/")
    version = PrincipleVersion.objects.get(principle=principle)
    assert (version.number, version.text, version.weight, version.created_by) == (1, "Be concise.", 2.5, alice)


def test_create_defaults(alice_client):
    body = alice_client.post(LIST, {"text": "Be kind."}, format="json").json()
    assert (body["title"], body["weight"], body["active"], body["position"]) == ("", 1.0, True, 0)


def test_create_appends_position(alice, alice_client):
    PrincipleFactory(owner=alice, position=7)
    assert alice_client.post(LIST, {"text": "Next."}, format="json").json()["position"] == 8


def test_list_is_paginated_ordered_and_filtered(alice, bob, alice_client):
    second = PrincipleFactory(owner=alice, text="second", position=2)
    first = PrincipleFactory(owner=alice, text="first", position=1)
    inactive = PrincipleFactory(owner=alice, text="inactive", position=3, active=False)
    PrincipleFactory(owner=bob, text="bob's")

    body = alice_client.get(LIST).json()
    assert body["count"] == 3
    assert [item["id"] for item in body["results"]] == [first.pk, second.pk, inactive.pk]

    page = alice_client.get(LIST, {"limit": 1, "offset": 1}).json()
    assert [item["id"] for item in page["results"]] == [second.pk]
    assert page["next"] and page["previous"]

    assert [p["id"] for p in alice_client.get(LIST, {"active": "true"}).json()["results"]] == [first.pk, second.pk]
    assert [p["id"] for p in alice_client.get(LIST, {"active": "false"}).json()["results"]] == [inactive.pk]


def test_list_rejects_bad_active_filter(alice_client):
    response = alice_client.get(LIST, {"active": "maybe"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["active"]


def test_retrieve_has_etag(alice_client, alice_principle):
    response = alice_client.get(url(alice_principle.pk))
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response["ETag"] == alice_principle.etag


def test_patch_creates_new_version_and_keeps_history(alice, alice_client, alice_principle):
    response = alice_client.patch(url(alice_principle.pk), {"weight": 4.0}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["version"], body["weight"], body["text"]) == (3, 4.0, "Reply in French, briefly.")
    versions = list(alice_principle.versions.order_by("number").values_list("number", "text", "weight"))
    assert versions == [
        (1, "Reply in French.", 1.5),
        (2, "Reply in French, briefly.", 1.5),
        (3, "Reply in French, briefly.", 4.0),
    ]
    assert response["ETag"] != alice_principle.etag


def test_patch_without_change_writes_nothing(alice_client, alice_principle, stored_state):
    before = stored_state()
    response = alice_client.patch(url(alice_principle.pk), {"text": "Reply in French, briefly."}, format="json")
    assert response.status_code == 200
    assert stored_state() == before


def test_position_change_reorders_without_new_version(alice_client, alice_principle):
    response = alice_client.patch(url(alice_principle.pk), {"position": 9}, format="json")
    assert response.status_code == 200
    assert (response.json()["position"], response.json()["version"]) == (9, 2)
    assert response["ETag"] != alice_principle.etag


def test_put_replaces_with_defaults(alice_client, alice_principle):
    response = alice_client.put(url(alice_principle.pk), {"text": "Answer in German."}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["text"], body["title"], body["weight"], body["active"], body["version"]) == (
        "Answer in German.",
        "",
        1.0,
        True,
        3,
    )


def test_put_requires_text(alice_client, alice_principle, stored_state):
    before = stored_state()
    response = alice_client.put(url(alice_principle.pk), {"weight": 2.0}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["text"]
    assert stored_state() == before


def test_delete_deactivates_and_keeps_history(alice_client, alice_principle):
    response = alice_client.delete(url(alice_principle.pk))
    assert response.status_code == 200
    assert response.json()["active"] is False
    alice_principle.refresh_from_db()
    assert alice_principle.active is False
    assert list(alice_principle.versions.values_list("number", "active")) == [(1, True), (2, True), (3, False)]
    # Deleting again changes nothing; the principle is still readable and can be reactivated.
    assert alice_client.delete(url(alice_principle.pk)).json()["version"] == 3
    reactivated = alice_client.patch(url(alice_principle.pk), {"active": True}, format="json").json()
    assert (reactivated["active"], reactivated["version"]) == (True, 4)


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_stale_if_match_is_412_and_changes_nothing(method, alice_client, alice_principle, stored_state):
    stale = alice_principle.etag
    alice_client.patch(url(alice_principle.pk), {"weight": 3.0}, format="json")  # someone else's write
    before = stored_state()
    response = getattr(alice_client, method)(
        url(alice_principle.pk), {"text": "Lost update."}, format="json", HTTP_IF_MATCH=stale
    )
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "precondition_failed"
    assert stored_state() == before


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_current_if_match_succeeds(method, alice_client, alice_principle):
    etag = alice_client.get(url(alice_principle.pk))["ETag"]
    response = getattr(alice_client, method)(
        url(alice_principle.pk), {"text": "Fresh."}, format="json", HTTP_IF_MATCH=f'"nope", {etag}'
    )
    assert response.status_code == 200, response.json()


def test_if_match_star_always_matches(alice_client, alice_principle):
    response = alice_client.patch(url(alice_principle.pk), {"weight": 0}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200
    assert response.json()["weight"] == 0.0


def test_if_none_match_gives_304_until_it_changes(alice_client, alice_principle):
    etag = alice_client.get(url(alice_principle.pk))["ETag"]
    unchanged = alice_client.get(url(alice_principle.pk), HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged["ETag"] == etag
    alice_client.patch(url(alice_principle.pk), {"weight": 2.0}, format="json")
    assert alice_client.get(url(alice_principle.pk), HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_weak_if_match_prefix_is_accepted(alice_client, alice_principle):
    etag = alice_client.get(url(alice_principle.pk))["ETag"]
    response = alice_client.patch(url(alice_principle.pk), {"weight": 2.0}, format="json", HTTP_IF_MATCH=f"W/{etag}")
    assert response.status_code == 200


@pytest.mark.parametrize("query", ["limit=100000000000000000000000", "offset=100000000000000000000000"])
@pytest.mark.parametrize("path", [LIST, "{}versions/"])
def test_out_of_range_pagination_is_never_a_500(query, path, alice_client, alice_principle):
    response = alice_client.get(path.format(url(alice_principle.pk)) + "?" + query)
    assert response.status_code == 200
    assert response.json()["count"] >= 1


@pytest.mark.parametrize(
    ("query", "name"), [("limit=-5", "limit"), ("offset=abc", "offset"), ("offset=null", "offset")]
)
@pytest.mark.parametrize("path", [LIST, "{}versions/"])
def test_pagination_of_the_wrong_type_is_a_400_naming_it(query, name, path, alice_client, alice_principle):
    """Issue 14: a query parameter of the wrong type is a 400 naming it (it used to be ignored)."""
    response = alice_client.get(path.format(url(alice_principle.pk)) + "?" + query)
    assert response.status_code == 400 and name in response.json()["error"]["fields"]


def test_page_size_is_capped():
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from core.pagination import MAX_PAGE_SIZE, BoundedLimitOffsetPagination

    request = Request(APIRequestFactory().get(LIST, {"limit": 10**30}))
    assert BoundedLimitOffsetPagination().get_limit(request) == MAX_PAGE_SIZE

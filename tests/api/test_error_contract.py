"""Every 4xx under /api/ and /v1/ is the JSON error body, with DEBUG on or off; query parameters of the wrong type
are a 400 naming the parameter; the job's empty fields are null, as the schema says."""

from __future__ import annotations

import pytest
from django.test import override_settings

from assistant.serializers import JobSerializer

UNMATCHED = [
    "/api/v1/jobs/abc/",
    "/api/v1/jobs/abc/stream/",
    "/api/v1/principles/x/",
    "/api/v1/principles/1/versions/x/",
    "/api/v1/conversations/not-a-uuid/messages/",
    "/api/v1/nothing-here/",
    "/api/nothing",
    "/v1/models",
]


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("path", UNMATCHED)
def test_an_unmatched_api_path_is_the_json_404(path, debug, alice_client):
    with override_settings(DEBUG=debug):
        response = alice_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def test_a_path_outside_the_api_keeps_djangos_page(alice_client):
    with override_settings(DEBUG=True):
        response = alice_client.get("/not-the-api/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/jobs/", "/api/v1/conversations/", "/api/v1/principles/"])
@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("offset=null", "offset"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
    ],
)
def test_a_pagination_parameter_of_the_wrong_type_is_a_400_naming_it(path, query, name, alice_client):
    response = alice_client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [name]


def test_pagination_in_range_still_pages(alice_client):
    for title in ("a", "b", "c"):
        alice_client.post("/api/v1/conversations/", {"title": title}, format="json")
    page = alice_client.get("/api/v1/conversations/?limit=1&offset=1").json()
    assert page["count"] == 3 and len(page["results"]) == 1
    assert alice_client.get("/api/v1/conversations/?limit=100000").status_code == 200  # capped at 200


def test_wait_of_the_wrong_type_is_a_400_naming_it(alice_client):
    conversation = alice_client.post("/api/v1/conversations/", {}, format="json").json()["id"]
    response = alice_client.post(
        f"/api/v1/conversations/{conversation}/messages/?wait=soon", {"content": "Hi"}, format="json"
    )
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["wait"]


def submitted_job_url(client) -> str:
    conversation = client.post("/api/v1/conversations/", {}, format="json").json()["id"]
    job = client.post(f"/api/v1/conversations/{conversation}/messages/", {"content": "Hi"}, format="json").json()
    return f"/api/v1/jobs/{job['id']}/"


@pytest.mark.parametrize("query", ["wait=soon", "%77ait=soon", "other=1&wait=soon"])
def test_a_polls_wait_of_the_wrong_type_is_a_400_however_it_is_spelled(alice_client, query):
    url = submitted_job_url(alice_client)
    response = alice_client.get(f"{url}?{query}")
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["wait"]
    assert alice_client.get(f"{url}?other=1").status_code == 200


def test_a_poll_with_more_query_fields_than_allowed_is_a_400(alice_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    url = submitted_job_url(alice_client)
    assert alice_client.get(url + "?" + "&".join(["a=1"] * 9)).status_code == 200
    response = alice_client.get(url + "?" + "&".join(["a=1"] * 11))
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_a_form_body_is_a_415(alice_client):
    response = alice_client.post("/api/v1/conversations/", "title=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"


def test_a_job_without_callback_or_error_says_null(alice):
    from assistant.models import Conversation, GenerationJob

    conversation = Conversation.objects.create(owner=alice)
    job = GenerationJob.objects.create(
        owner=alice, conversation=conversation, input_messages=[], settings={}, principle_versions=[]
    )
    data = JobSerializer(job).data
    assert data["callback_url"] is None and data["error"] is None
    job.callback_url, job.error_code, job.error_message = "https://example.com/hook", "timeout", "Too slow."
    data = JobSerializer(job).data
    assert data["callback_url"] == "https://example.com/hook"
    assert data["error"] == {"code": "timeout", "message": "Too slow."}

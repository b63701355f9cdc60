"""Feedback on replies: capture, update, withdraw, ownership, validation and limits, the OpenAI id form, and the
refinement it queues."""

import pytest

from assistant.models import Feedback, GenerationJob
from preferences.models import Suggestion

pytestmark = pytest.mark.django_db
COMPLETIONS = "/api/v1/chat/completions"


@pytest.fixture
def finished_job(alice_client, conversation, run_jobs) -> GenerationJob:
    with run_jobs():
        response = alice_client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "Hi"})
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded"
    return job


def url(job_or_id) -> str:
    job_id = getattr(job_or_id, "pk", job_or_id)
    return f"/api/v1/jobs/{job_id}/feedback/"


def test_capture_keeps_the_replys_provenance(alice_client, finished_job, run_jobs):
    with run_jobs():
        response = alice_client.post(url(finished_job), {"rating": "down", "comment": "Too long.", "tags": ["length"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rating"], body["comment"], body["tags"], body["corrected_text"]) == (
        "down",
        "Too long.",
        ["length"],
        "",
    )
    assert body["reply"] == finished_job.reply.content
    assert body["provenance"] == {
        "principle_versions": finished_job.principle_versions,
        "alpha": 3.0,
        "steering_arm": 3.0,
        "model": "scripted/echo",
        "backend": "scripted",
    }
    assert alice_client.get(url(finished_job)).json() == body


def test_one_feedback_per_reply(alice_client, finished_job, run_jobs):
    with run_jobs():
        assert alice_client.post(url(finished_job), {"rating": "up"}).status_code == 201
    second = alice_client.post(url(finished_job), {"rating": "down"})
    assert second.status_code == 409 and second.json()["error"]["code"] == "feedback_exists"
    assert Feedback.objects.get().rating == "up"


def test_put_replaces_patch_changes_delete_withdraws(alice_client, finished_job, run_jobs):
    with run_jobs():
        alice_client.post(url(finished_job), {"rating": "down", "comment": "Too long.", "tags": ["a"]})
        put = alice_client.put(url(finished_job), {"corrected_text": "Hello."})
        assert put.status_code == 200, put.content
        assert (put.json()["rating"], put.json()["comment"], put.json()["tags"]) == (None, "", [])
        patch = alice_client.patch(url(finished_job), {"rating": "up"})
        assert (patch.json()["rating"], patch.json()["corrected_text"]) == ("up", "Hello.")
        assert alice_client.delete(url(finished_job)).status_code == 204
    assert alice_client.get(url(finished_job)).status_code == 404
    assert not Feedback.objects.exists()


def test_an_update_must_leave_something(alice_client, finished_job, run_jobs):
    with run_jobs():
        alice_client.post(url(finished_job), {"rating": "down"})
    response = alice_client.patch(url(finished_job), {"rating": None})
    assert response.status_code == 400 and "non_field_errors" in response.json()["error"]["fields"]
    assert Feedback.objects.get().rating == "down"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"comment": ""}, "non_field_errors"),
        ({"rating": "meh"}, "rating"),
        ({"rating": 1}, "rating"),
        ({"comment": "x" * 2001}, "comment"),
        ({"corrected_text": "x" * 20001}, "corrected_text"),
        ({"rating": "up", "tags": ["t"] * 11}, "tags"),
        ({"rating": "up", "tags": ["x" * 51]}, "tags.0"),
        ({"rating": "up", "tags": "length"}, "tags"),
        ({"rating": "up", "stars": 5}, "stars"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(alice_client, finished_job, body, field):
    response = alice_client.post(url(finished_job), body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Feedback.objects.exists()


def test_limits_are_inclusive(alice_client, finished_job, run_jobs):
    with run_jobs():
        response = alice_client.post(
            url(finished_job),
            {"comment": "x" * 2000, "corrected_text": "y" * 20000, "tags": [str(n) for n in range(10)]},
        )
    assert response.status_code == 201, response.content


def test_only_the_owner_sees_or_touches_it(alice_client, bob_client, charlie_client, finished_job, run_jobs):
    with run_jobs():
        alice_client.post(url(finished_job), {"rating": "up"})
    for client in (bob_client, charlie_client):
        for method in ("get", "put", "patch", "delete"):
            response = getattr(client, method)(url(finished_job), {"rating": "down"})
            assert response.status_code == 404, (method, response.content)
        assert client.post(url(finished_job), {"rating": "down"}).status_code == 404
        assert client.get("/api/v1/feedback/").json()["count"] == 0
    assert Feedback.objects.get().rating == "up"


def test_a_job_without_a_reply_is_a_409(alice, alice_client):
    job = GenerationJob.objects.create(
        owner=alice, input_messages=[{"role": "user", "content": "Hi"}], settings={"alpha": 1.0}
    )
    response = alice_client.post(url(job), {"rating": "up"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_reply"


def test_unknown_and_malformed_job_ids_are_json_404s(alice_client):
    for job_id in ("7c0b5f3e-0d0b-4c7f-9a3f-4a7c1b2d3e4f", "chatcmpl-" + "0" * 32, "chatcmpl-xyz", "abc"):
        response = alice_client.get(url(job_id))
        assert response.status_code == 404 and response["Content-Type"].startswith("application/json")


@pytest.mark.django_db(transaction=True)
def test_the_openai_completion_id_works_too(alice_client):
    completion = alice_client.post(COMPLETIONS, {"messages": [{"role": "user", "content": "Hi"}]}).json()
    response = alice_client.post(url(completion["id"]), {"rating": "up"})
    assert response.status_code == 201, response.content
    assert response.json()["job_id"] == completion["principled"]["job_id"]
    assert alice_client.get(url(completion["principled"]["job_id"])).json()["rating"] == "up"


def test_listing_is_paginated_and_filters_by_rating(alice, alice_client, conversation, run_jobs):
    for rating in ("up", "down", "up"):
        with run_jobs():
            job_id = alice_client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "Hi"}).json()[
                "id"
            ]
        with run_jobs():
            assert alice_client.post(url(job_id), {"rating": rating}).status_code == 201
    assert alice_client.get("/api/v1/feedback/").json()["count"] == 3
    ups = alice_client.get("/api/v1/feedback/?rating=up&limit=1").json()
    assert ups["count"] == 2 and len(ups["results"]) == 1 and ups["results"][0]["rating"] == "up"
    assert alice_client.get("/api/v1/feedback/?rating=sideways").status_code == 400


def test_corrections_that_agree_become_a_pending_suggestion(alice_client, conversation, run_jobs):
    """Refinement runs after each feedback commits (eager Celery here; a real worker in tests/integration): one
    correction adding a closing is not enough evidence, a second one confirming it is."""
    feedback_ids = []
    for round_number in range(2):
        with run_jobs():
            job_id = alice_client.post(
                f"/api/v1/conversations/{conversation.pk}/messages/", {"content": f"Question {round_number}"}
            ).json()["id"]
        reply = GenerationJob.objects.get(pk=job_id).reply.content
        with run_jobs():
            feedback_ids.append(
                alice_client.post(
                    url(job_id), {"rating": "down", "corrected_text": reply + "\n\nBest regards."}
                ).json()["id"]
            )
        assert Suggestion.objects.count() == round_number
    suggestion = Suggestion.objects.get()
    assert suggestion.kind == "new_principle" and suggestion.status == "pending"
    assert "Best regards." in suggestion.text and sorted(suggestion.feedback_ids) == sorted(feedback_ids)
    assert suggestion.rule == {"type": "closing", "value": "Best regards."}

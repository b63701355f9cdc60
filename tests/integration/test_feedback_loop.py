"""The feedback loop end to end: real replies of the real model, corrections sent as feedback, refinement run by
a real Celery worker, the suggestion accepted, and the next reply steered by (and recording) the new version,
whose measured rule decoding keeps exactly."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def reply_to(client, conversation_id: str, content: str) -> dict:
    response = client.post(
        f"/conversations/{conversation_id}/messages/", json={"content": content, "settings": {"max_new_tokens": 24}}
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def pending_suggestions(client, *, at_least: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        pending = client.get("/suggestions/", params={"status": "pending"}).json()["results"]
        if len(pending) >= at_least or time.monotonic() > deadline:
            return pending
        time.sleep(0.3)


def test_corrections_become_a_principle_the_next_reply_records(account):
    alice = account("alice")
    conversation_id = alice.client.post("/conversations/", json={}).json()["id"]
    feedback_ids = []
    for question in ("Name a fruit.", "Name a color."):
        job = reply_to(alice.client, conversation_id, question)
        corrected = job["reply"]["content"].rstrip() + "\n\nBest regards."
        response = alice.client.post(
            f"/jobs/{job['id']}/feedback/", json={"rating": "down", "corrected_text": corrected}
        )
        assert response.status_code == 201, response.text
        feedback_ids.append(response.json()["id"])

    (suggestion,) = pending_suggestions(alice.client, at_least=1)
    assert suggestion["kind"] == "new_principle" and "Best regards." in suggestion["text"]
    assert sorted(suggestion["feedback_ids"]) == sorted(feedback_ids)

    accepted = alice.client.post(f"/suggestions/{suggestion['id']}/accept/")
    assert accepted.status_code == 200, accepted.text
    principle = accepted.json()
    versions = alice.client.get(f"/principles/{principle['id']}/versions/").json()["results"]
    assert [version["suggestion"] for version in versions] == [suggestion["id"]]

    assert principle["enforced_as"] == [{"type": "closing", "value": "Best regards."}]

    job = reply_to(alice.client, conversation_id, "Name an animal.")
    assert [(p["principle_id"], p["version_id"]) for p in job["principle_versions"]] == [
        (principle["id"], versions[0]["id"])
    ]
    assert job["reply"]["content"].rstrip().endswith("Best regards.")  # the measured rule is kept exactly
    assert alice.client.get("/suggestions/", params={"status": "accepted"}).json()["count"] == 1

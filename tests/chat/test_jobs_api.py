import json

import pytest

from assistant.models import GenerationJob

pytestmark = pytest.mark.django_db


def submit(client, conversation, capture, execute):
    with capture(execute=execute):
        response = client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "Hi"})
    return response.json()["id"]


def test_poll_and_list_own_jobs_only(alice_client, bob_client, conversation, django_capture_on_commit_callbacks):
    job_id = submit(alice_client, conversation, django_capture_on_commit_callbacks, execute=True)
    assert alice_client.get(f"/api/v1/jobs/{job_id}/").json()["status"] == "succeeded"
    assert [job["id"] for job in alice_client.get("/api/v1/jobs/").json()["results"]] == [job_id]
    assert bob_client.get("/api/v1/jobs/").json()["results"] == []
    for method, path in [
        ("get", f"/api/v1/jobs/{job_id}/"),
        ("post", f"/api/v1/jobs/{job_id}/cancel/"),
        ("get", f"/api/v1/jobs/{job_id}/stream/"),
    ]:
        response = getattr(bob_client, method)(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_cancel_queued_job(alice_client, conversation, django_capture_on_commit_callbacks):
    job_id = submit(alice_client, conversation, django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    # the job's message, delivered later, finds it cancelled and does not run it
    from worker.generation import job_run

    job_run(job_id=job_id, worker_id="late-worker")
    job = GenerationJob.objects.get(pk=job_id)
    assert job.status == "cancelled" and job.attempts == 0 and not hasattr(job, "reply")
    again = alice_client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"


def test_cancel_running_job_asks_the_worker(alice, alice_client, conversation, django_capture_on_commit_callbacks):
    from assistant.execution import job_claim

    job_id = submit(alice_client, conversation, django_capture_on_commit_callbacks, execute=False)
    job_claim(job_id=job_id, worker_id="w1")
    response = alice_client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True


def test_stream_replays_deltas_then_the_stored_job(alice_client, conversation, django_capture_on_commit_callbacks):
    job_id = submit(alice_client, conversation, django_capture_on_commit_callbacks, execute=True)
    response = alice_client.get(f"/api/v1/jobs/{job_id}/stream/", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = parse_sse(b"".join(response).decode())
    deltas = [event for event in events if event.get("event") == "delta"]
    assert "".join(json.loads(e["data"])["text"] for e in deltas) == "echo Hi (0 principles, alpha 3.0)"
    done = events[-1]
    assert done["event"] == "done"
    assert json.loads(done["data"])["job"]["reply"]["content"] == "echo Hi (0 principles, alpha 3.0)"

    # resuming after the third delta replays only the rest
    resumed = alice_client.get(f"/api/v1/jobs/{job_id}/stream/", HTTP_LAST_EVENT_ID=deltas[2]["id"])
    rest = [e for e in parse_sse(b"".join(resumed).decode()) if e.get("event") == "delta"]
    assert [e["id"] for e in rest] == [e["id"] for e in deltas[3:]]


def test_stream_rejects_a_bad_last_event_id(alice_client, conversation, django_capture_on_commit_callbacks):
    job_id = submit(alice_client, conversation, django_capture_on_commit_callbacks, execute=True)
    response = alice_client.get(f"/api/v1/jobs/{job_id}/stream/", HTTP_LAST_EVENT_ID="abc")
    assert response.status_code == 400 and "Last-Event-ID" in response.json()["error"]["fields"]


def parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        event: dict = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            event[name] = event[name] + "\n" + value if name in event else value
        if "data" in event:
            events.append(event)
    return events


def test_stream_of_a_retried_job_says_restart(
    alice_client, conversation, scripted_engine, monkeypatch, django_capture_on_commit_callbacks
):
    from worker.generation import job_run

    monkeypatch.setattr("assistant.job_queue.job_enqueue", lambda **kwargs: None)
    job_id = submit(alice_client, conversation, django_capture_on_commit_callbacks, execute=False)
    scripted_engine.fail_with = RuntimeError("device lost")
    job_run(job_id=job_id, worker_id="w1")
    scripted_engine.fail_with = None
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=job_id, worker_id="w2")
    events = parse_sse(b"".join(alice_client.get(f"/api/v1/jobs/{job_id}/stream/")).decode())
    assert [event["event"] for event in events][:2] == ["restart", "delta"]
    assert events[-1]["event"] == "done" and json.loads(events[-1]["data"])["job"]["attempts"] == 2

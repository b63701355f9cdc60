"""End to end through uvicorn, Redis, a real Celery worker and the real default model."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from assistant.callbacks import SIGNATURE_HEADER, callback_signature_valid
from tests.chat.receiver import CallbackReceiver
from tests.integration.conftest import JOB_TIMEOUT, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def new_conversation(client: httpx.Client) -> str:
    response = client.post("/conversations/", json={})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def submit(client: httpx.Client, conversation_id: str, content: str = "Name a fruit.", **extra) -> httpx.Response:
    headers = extra.pop("headers", {})
    params = extra.pop("params", None)
    return client.post(
        f"/conversations/{conversation_id}/messages/",
        json={"content": content, **extra},
        headers=headers,
        params=params,
    )


def test_submit_and_poll(account):
    alice = account("alice")
    principle = alice.client.post("/principles/", json={"text": "Answer in French."})
    assert principle.status_code == 201, principle.text
    conversation_id = new_conversation(alice.client)

    response = submit(alice.client, conversation_id, settings={"max_new_tokens": 8, "alpha": 2.0})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{response.json()['id']}/")
    job = wait_for_job(alice.client, response.json()["id"])

    assert job["status"] == "succeeded", job
    assert job["reply"]["content"].strip()
    assert "SmolLM2-135M-Instruct" in job["model"] and job["backend"] in ("torch", "llamacpp")
    assert job["alpha"] == 2.0 and job["settings"]["max_new_tokens"] == 8
    assert 0 < job["usage"]["completion_tokens"] <= 8 and job["usage"]["prompt_tokens"] > 0
    assert [p["text"] for p in job["principle_versions"]] == ["Answer in French."]
    assert job["principle_versions"][0]["version_id"] is not None
    assert job["worker_id"] and job["latency_ms"] > 0 and job["attempts"] == 1
    messages = alice.client.get(f"/conversations/{conversation_id}/messages/").json()["results"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == job["reply"]["content"]


def test_wait_mode_returns_the_reply(account):
    alice = account("alice")
    conversation_id = new_conversation(alice.client)
    response = submit(alice.client, conversation_id, headers={"Prefer": "wait=120"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded" and response.json()["reply"]["content"]


def read_sse(client: httpx.Client, job_id: str, arrivals: list[float] | None = None) -> list[tuple[str, dict]]:
    """The (event, data) pairs of the job's stream; `arrivals` gets the time each one was received."""
    events = []
    with client.stream("GET", f"/jobs/{job_id}/stream/", headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[len("data: ") :])))
                if arrivals is not None:
                    arrivals.append(time.monotonic())
    return events


def test_sse_stream_relays_tokens_then_the_stored_reply(account):
    alice = account("alice")
    # A long reply (48 tokens take about half a second even on a quiet CPU) so the spread below is not timing luck.
    job_id = submit(
        alice.client,
        new_conversation(alice.client),
        "Write a long story about a dragon.",
        settings={"max_new_tokens": 48},
    ).json()["id"]
    arrivals: list[float] = []
    events = read_sse(alice.client, job_id, arrivals)  # connects while the job is queued or running
    kinds = [kind for kind, _ in events]
    assert kinds.count("delta") >= 16
    assert arrivals[-1] - arrivals[0] > 0.1  # tokens arrived as they were generated, not all at the end
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"delta"}
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    stored = events[-1][1]["job"]
    assert stored["status"] == "succeeded" and streamed == stored["reply"]["content"]

    late = read_sse(alice.client, job_id)  # a late client gets everything it missed
    assert late == events


def test_idempotent_retry(account):
    alice = account("alice")
    conversation_id = new_conversation(alice.client)
    first = submit(alice.client, conversation_id, headers={"Idempotency-Key": "retry-1"})
    again = submit(alice.client, conversation_id, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == 202 and again.status_code in (200, 202)
    assert again.json()["id"] == first.json()["id"]
    other = submit(alice.client, conversation_id, "Something else", headers={"Idempotency-Key": "retry-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    wait_for_job(alice.client, first.json()["id"])
    messages = alice.client.get(f"/conversations/{conversation_id}/messages/").json()["results"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert len(alice.client.get("/jobs/").json()["results"]) == 1


def test_cancel_a_running_job(account):
    alice = account("alice")
    job_id = submit(
        alice.client, new_conversation(alice.client), "Tell me a long story.", settings={"max_new_tokens": 200}
    ).json()["id"]
    wait_for_job(alice.client, job_id, until=lambda job: job["status"] == "running")
    response = alice.client.post(f"/jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    job = wait_for_job(alice.client, job_id)
    assert job["status"] == "cancelled" and job["finish_reason"] == "cancelled" and job["reply"] is None
    assert job["usage"]["completion_tokens"] < 200
    assert alice.client.post(f"/jobs/{job_id}/cancel/").status_code == 409


def test_callback_delivered_to_a_local_receiver(account):
    alice = account("alice")
    with CallbackReceiver(statuses=[500]) as receiver:
        response = submit(alice.client, new_conversation(alice.client), callback_url=receiver.url)
        assert response.status_code == 202, response.text
        assert receiver.received.wait(JOB_TIMEOUT), f"no callback in {JOB_TIMEOUT}s"
    assert len(receiver.requests) == 2  # refused once with 500, delivered on the retry
    headers, body = receiver.requests[-1]
    secret = alice.client.get("/callbacks/secret/").json()["secret"]  # alice's own signing secret
    assert callback_signature_valid(body=body, header=headers[SIGNATURE_HEADER], secret=secret)
    payload = json.loads(body)
    assert payload["job"]["id"] == response.json()["id"] and payload["job"]["status"] == "succeeded"
    job = wait_for_job(alice.client, response.json()["id"], until=lambda job: job["callback_status"] == "delivered")
    assert job["reply"]["content"] == payload["job"]["reply"]["content"]


def test_openai_client_round_trip(account, stack):
    from openai import OpenAI

    alice = account("alice")
    client = OpenAI(base_url=stack.base_url + "/api/v1", api_key=alice.token, timeout=180, max_retries=0)
    completion = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
        extra_body={"alpha": 1.5, "principles": ["Answer in French."]},
    )
    assert completion.object == "chat.completion" and completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content and completion.choices[0].finish_reason in ("stop", "length")
    assert 0 < completion.usage.completion_tokens <= 8
    assert "SmolLM2" in completion.model

    chunks = list(
        client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"alpha": 1.5, "principles": ["Answer in French."]},
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == completion.choices[0].message.content  # greedy: the same reply, streamed
    assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens
    assert len({chunk.id for chunk in chunks}) == 1


def test_users_cannot_reach_each_others_jobs_and_conversations(account):
    alice, bob = account("alice"), account("bob")
    conversation_id = new_conversation(alice.client)
    job_id = submit(alice.client, conversation_id).json()["id"]
    for method, path in [
        ("GET", f"/jobs/{job_id}/"),
        ("POST", f"/jobs/{job_id}/cancel/"),
        ("GET", f"/jobs/{job_id}/stream/"),
        ("GET", f"/conversations/{conversation_id}/"),
        ("GET", f"/conversations/{conversation_id}/messages/"),
        ("POST", f"/conversations/{conversation_id}/messages/"),
        ("DELETE", f"/conversations/{conversation_id}/"),
    ]:
        response = bob.client.request(method, path, json={"content": "x"} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.text)
    assert bob.client.get("/jobs/").json()["results"] == []
    assert bob.client.get("/conversations/").json()["results"] == []
    assert wait_for_job(alice.client, job_id)["status"] == "succeeded"


def test_generation_is_throttled_per_user(account):
    alice, bob = account("alice"), account("bob")
    statuses = [alice.client.post("/chat/completions", json={"messages": []}).status_code for _ in range(31)]
    assert statuses[:30] == [400] * 30 and statuses[30] == 429
    throttled = alice.client.post("/chat/completions", json={"messages": []})
    assert throttled.json()["error"]["code"] == "throttled" and "retry-after" in throttled.headers
    assert bob.client.post("/chat/completions", json={"messages": []}).status_code == 400  # per user


def test_worker_killed_mid_job_is_finished_by_another_worker(account, stack):
    alice = account("alice")
    job_id = submit(
        alice.client, new_conversation(alice.client), "Tell me a long story.", settings={"max_new_tokens": 192}
    ).json()["id"]
    running = wait_for_job(alice.client, job_id, until=lambda job: job["status"] == "running")
    stack.stop("worker1", signal.SIGKILL)
    stack.start_worker("worker2")
    job = wait_for_job(alice.client, job_id)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2 and job["worker_id"] != running["worker_id"]
    assert job["reply"]["content"]


def test_jobs_survive_a_redis_flush(account, stack):
    alice = account("alice")
    worker = next(name for name in stack.processes if name.startswith("worker"))
    stack.stop(worker)  # no worker: the jobs stay queued in PostgreSQL and Redis
    job_ids = [submit(alice.client, new_conversation(alice.client)).json()["id"] for _ in range(2)]
    stack.redis().flushdb()  # the broker loses the queued messages
    stack.start_worker("worker3")
    for job_id in job_ids:  # beat's sweep re-queues them once past the queued deadline
        assert wait_for_job(alice.client, job_id)["status"] == "succeeded"

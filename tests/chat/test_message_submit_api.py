import pytest

from assistant.models import GenerationJob, Message, Reply
from tests.factories import PrincipleFactory

pytestmark = pytest.mark.django_db


def url(conversation):
    return f"/api/v1/conversations/{conversation.pk}/messages/"


def test_submit_returns_202_with_location_and_a_queued_job(
    alice_client,
    conversation,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = alice_client.post(url(conversation), {"content": "Hello there"})
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get()
    assert response["Location"].endswith(f"/api/v1/jobs/{job.pk}/")
    body = response.json()
    assert body["status"] == "queued" and body["reply"] is None and body["user_message_id"] is not None
    assert job.input_messages == [{"role": "user", "content": "Hello there"}]
    assert len(queued) == 1  # the job is queued only once its row is committed


def test_job_runs_and_records_reply_and_generation_record(alice, alice_client, conversation, run_jobs):
    principle = PrincipleFactory(owner=alice, text="Answer like a pirate.", weight=2.0)
    with run_jobs():
        response = alice_client.post(
            url(conversation), {"content": "Hi", "settings": {"alpha": 3.0, "max_new_tokens": 20}}
        )
    job_url = response["Location"]
    job = alice_client.get(job_url).json()
    assert job["status"] == "succeeded"
    assert job["reply"]["content"] == "echo Hi (1 principles, alpha 3.0)"
    assert job["model"] == "scripted/echo" and job["backend"] == "scripted"
    assert job["alpha"] == 3.0 and job["settings"]["max_new_tokens"] == 20
    assert job["principle_versions"] == [
        {
            "version_id": principle.versions.get().pk,
            "principle_id": principle.pk,
            "text": "Answer like a pirate.",
            "weight": 2.0,
            "rules": [],
        }
    ]
    assert job["usage"] == {"prompt_tokens": 7, "completion_tokens": 6}
    assert job["latency_ms"] is not None and job["worker_id"] and job["finish_reason"] == "eos"
    messages = list(Message.objects.filter(conversation=conversation).values_list("role", "content", "position"))
    assert messages == [("user", "Hi", 0), ("assistant", "echo Hi (1 principles, alpha 3.0)", 1)]
    assert Reply.objects.get().message.position == 1


def test_history_is_sent_with_the_next_message(alice_client, conversation, run_jobs):
    with run_jobs():
        alice_client.post(url(conversation), {"content": "One"})
    with run_jobs():
        alice_client.post(url(conversation), {"content": "Two"})
    job = GenerationJob.objects.order_by("created_at").last()
    assert [m["content"] for m in job.input_messages] == ["One", "echo One (0 principles, alpha 3.0)", "Two"]


@pytest.mark.django_db(transaction=True)  # real commits: the (eager) job runs before the view waits
@pytest.mark.parametrize("how", [{"query": "?wait=true"}, {"header": "respond-async, wait=5"}])
def test_wait_mode_returns_the_reply(alice_client, conversation, how):
    response = alice_client.post(
        url(conversation) + how.get("query", ""), {"content": "Hi"}, HTTP_PREFER=how.get("header", "")
    )
    assert response.status_code == 200, response.content
    assert response.json()["reply"]["content"] == "echo Hi (0 principles, alpha 3.0)"
    assert response["Preference-Applied"] == "wait"
    assert response["Location"].endswith(f"/api/v1/jobs/{response.json()['id']}/")


def test_wait_mode_times_out_with_202(alice_client, conversation, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(url(conversation) + "?wait=1", {"content": "Hi"})
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_idempotency_key_returns_the_same_job(alice_client, conversation, run_jobs):
    with run_jobs():
        first = alice_client.post(url(conversation), {"content": "Hi"}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = alice_client.post(url(conversation), {"content": "Hi"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.json()["id"] == first.json()["id"]
    assert again.status_code == 200  # finished by now
    assert GenerationJob.objects.count() == 1 and Message.objects.filter(role="user").count() == 1

    different = alice_client.post(url(conversation), {"content": "Hello"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "idempotency_key_reused"
    assert GenerationJob.objects.count() == 1 and Message.objects.filter(role="user").count() == 1


def test_idempotency_keys_are_per_user(alice_client, bob, bob_client, conversation, run_jobs):
    from assistant.services import conversation_create

    bobs = conversation_create(user=bob)
    with run_jobs():
        alice_client.post(url(conversation), {"content": "Hi"}, HTTP_IDEMPOTENCY_KEY="same")
        response = bob_client.post(url(bobs), {"content": "Hi"}, HTTP_IDEMPOTENCY_KEY="same")
    assert response.status_code in (200, 202)
    assert GenerationJob.objects.count() == 2


def test_busy_conversation_conflict(alice_client, conversation, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(url(conversation), {"content": "One"})
        response = alice_client.post(url(conversation), {"content": "Two"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conversation_busy"
    assert Message.objects.count() == 1


def test_size_limits(alice_client, conversation, settings):
    settings.GENERATION_MAX_MESSAGE_CHARS = 10
    response = alice_client.post(url(conversation), {"content": "x" * 11})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "message_too_large"
    assert "content" in response.json()["error"]["fields"]

    settings.GENERATION_MAX_MESSAGE_CHARS = 1000
    settings.GENERATION_MAX_CONVERSATION_CHARS = 15
    Message.objects.create(conversation=conversation, role="user", content="x" * 10, position=0)
    response = alice_client.post(url(conversation), {"content": "y" * 6})
    assert response.status_code == 413 and response.json()["error"]["code"] == "conversation_too_large"
    assert GenerationJob.objects.count() == 0 and Message.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"content": "Hi", "settings": {"max_new_tokens": 100000}}, "settings.max_new_tokens"),
        ({"content": "Hi", "settings": {"temperature": -1.0}}, "settings.temperature"),
        ({"content": "Hi", "settings": {"alpha": "strong"}}, "settings.alpha"),
        ({"content": "Hi", "settings": {"beam": 3}}, "settings.beam"),
        ({"content": ""}, "content"),
        ({"content": 5}, "content"),
        ({}, "content"),
        ({"content": "Hi", "extra": 1}, "extra"),
        ({"content": "Hi", "callback_url": "http://127.0.0.1:9/hook"}, "callback_url"),
        ({"content": "Hi", "callback_url": "http://10.1.2.3/hook"}, "callback_url"),
        ({"content": "Hi", "callback_url": "ftp://example.com/x"}, "callback_url"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(alice_client, conversation, body, field):
    response = alice_client.post(url(conversation), body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert GenerationJob.objects.count() == 0 and Message.objects.count() == 0


def test_bad_wait_parameter(alice_client, conversation):
    response = alice_client.post(url(conversation) + "?wait=soon", {"content": "Hi"})
    assert response.status_code == 400 and "wait" in response.json()["error"]["fields"]
    assert GenerationJob.objects.count() == 0


def test_throttled_with_429(alice_client, conversation, monkeypatch, django_capture_on_commit_callbacks):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"generation": "2/min"})
    for _ in range(2):
        alice_client.post(url(conversation), {"bad": 1})
    response = alice_client.post(url(conversation), {"content": "Hi"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert "Retry-After" in response
    assert alice_client.get(url(conversation)).status_code == 200  # reads are not throttled
    assert GenerationJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_embedded_mode_runs_jobs_in_process(alice_client, conversation, settings):
    settings.GENERATION_IN_PROCESS = True  # no broker: a thread pool in this process runs the job
    response = alice_client.post(url(conversation), {"content": "Hi"}, HTTP_PREFER="wait=30")
    assert response.status_code == 200, response.content
    assert response.json()["reply"]["content"] == "echo Hi (0 principles, alpha 3.0)"

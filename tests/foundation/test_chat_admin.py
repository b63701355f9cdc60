"""The chat admin: staff read conversations and jobs; jobs are cancelled only through the cancel action."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from assistant.models import Conversation, GenerationJob, Message, Reply
from tests.factories import UserFactory

CONVERSATIONS = "/admin/assistant/conversation/"
JOBS = "/admin/assistant/generationjob/"


def _job(owner, conversation=None, **fields) -> GenerationJob:
    values = {
        "input_messages": [{"role": "user", "content": "Hello"}],
        "alpha": 1.5,
        "settings": {"alpha": 1.5},
        "principle_versions": [{"version_id": 1, "principle_id": 1, "text": "Answer in haiku.", "weight": 1.0}],
    }
    values.update(fields)
    return GenerationJob.objects.create(owner=owner, conversation=conversation, **values)


@pytest.fixture
def conversation(alice) -> Conversation:
    conversation = Conversation.objects.create(owner=alice, title="Trip to Lisbon")
    Message.objects.create(conversation=conversation, role="user", content="Where should I eat?", position=0)
    Message.objects.create(conversation=conversation, role="assistant", content="Try the bifanas.", position=1)
    return conversation


@pytest.fixture
def jobs(alice, bob, conversation) -> dict[str, GenerationJob]:
    succeeded = _job(
        alice,
        conversation,
        status="succeeded",
        backend="torch",
        model_id="smollm2",
        completion_tokens=7,
        latency_ms=900,
        worker_id="gpu-1",
        attempts=1,
    )
    Reply.objects.create(job=succeeded, content="Try the bifanas.")
    return {
        "succeeded": succeeded,
        "queued": _job(alice, conversation),
        "running": _job(bob, status="running", backend="llamacpp", worker_id="gpu-2", attempts=1),
        "failed": _job(bob, status="failed", error_code="engine_error", error_message="out of memory"),
    }


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize("path", [CONVERSATIONS, JOBS])
def test_non_staff_is_sent_to_login(path, alice, jobs):
    client = Client()
    client.force_login(alice)
    for response in (client.get(path), Client().get(path), client.get(f"{JOBS}{jobs['queued'].pk}/change/")):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_non_staff_cannot_cancel(alice, jobs):
    client = Client()
    client.force_login(alice)
    client.post(JOBS, {"action": "cancel_jobs", "_selected_action": [jobs["queued"].pk]})
    assert GenerationJob.objects.get(pk=jobs["queued"].pk).status == "queued"


@pytest.mark.parametrize(
    "query",
    ["", "?q=alice", "?q=Lisbon", "?created_at__gte=2000-01-01+00:00:00%2B00:00", "?updated_at__year=2000"],
)
def test_staff_sees_conversations(query, staff_client, conversation):
    response = staff_client.get(CONVERSATIONS + query)
    assert response.status_code == 200


def test_conversation_search_matches_owner_and_title(staff_client, conversation, bob):
    Conversation.objects.create(owner=bob, title="Tax forms")
    assert "Trip to Lisbon" in staff_client.get(CONVERSATIONS + "?q=alice").content.decode()
    page = staff_client.get(CONVERSATIONS + "?q=Tax").content.decode()
    assert "Tax forms" in page and "Trip to Lisbon" not in page


def test_conversation_page_shows_messages_and_jobs(staff_client, conversation, jobs):
    response = staff_client.get(f"{CONVERSATIONS}{conversation.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Where should I eat?" in page and "Try the bifanas." in page
    assert f"{JOBS}{jobs['succeeded'].pk}/change/" in page


@pytest.mark.parametrize(
    "query",
    ["", "?status__exact=queued", "?backend__exact=torch", "?q=bob", "?q=not-a-uuid"],
)
def test_staff_sees_jobs(query, staff_client, jobs):
    assert staff_client.get(JOBS + query).status_code == 200


def test_job_filters_and_search_select_the_right_jobs(staff_client, jobs):
    def listed(query: str) -> set[str]:
        page = staff_client.get(JOBS + query).content.decode()
        return {name for name, job in jobs.items() if f"{JOBS}{job.pk}/change/" in page}

    assert listed("?status__exact=queued") == {"queued"}
    assert listed("?backend__exact=llamacpp") == {"running"}
    assert listed(f"?q={jobs['failed'].pk}") == {"failed"}
    assert listed("?q=bob") == {"running", "failed"}


def test_job_page_shows_the_generation_record(staff_client, jobs):
    response = staff_client.get(f"{JOBS}{jobs['succeeded'].pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Try the bifanas.", "Answer in haiku.", "smollm2", "gpu-1", "900"):
        assert text in page
    failed = staff_client.get(f"{JOBS}{jobs['failed'].pk}/change/").content.decode()
    assert "engine_error" in failed and "out of memory" in failed


def test_jobs_and_conversations_cannot_be_added_changed_or_deleted(staff_client, jobs, conversation):
    job = jobs["queued"]
    assert staff_client.get(f"{JOBS}add/").status_code == 403
    assert staff_client.get(f"{CONVERSATIONS}add/").status_code == 403
    assert staff_client.post(f"{JOBS}{job.pk}/change/", {"status": "succeeded"}).status_code == 403
    assert staff_client.post(f"{JOBS}{job.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_client.post(f"{CONVERSATIONS}{conversation.pk}/delete/", {"post": "yes"}).status_code == 403
    staff_client.post(JOBS, {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"})
    assert GenerationJob.objects.get(pk=job.pk).status == "queued"
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_cancel_action_goes_through_the_service(staff_client, jobs):
    selected = [jobs[name].pk for name in ("queued", "running", "succeeded")]
    response = staff_client.post(JOBS, {"action": "cancel_jobs", "_selected_action": selected}, follow=True)
    assert response.status_code == 200

    queued = GenerationJob.objects.get(pk=jobs["queued"].pk)
    assert (queued.status, queued.finish_reason) == ("cancelled", "cancelled")
    assert queued.finished_at is not None and queued.latency_ms is not None
    running = GenerationJob.objects.get(pk=jobs["running"].pk)
    assert (running.status, running.cancel_requested) == ("running", True)  # the worker stops it
    assert GenerationJob.objects.get(pk=jobs["succeeded"].pk).status == "succeeded"

    page = response.content.decode()
    assert "Cancelled 1 queued job(s); asked the worker to stop 1 running job(s)." in page
    assert "Refused" in page and "already finished" in page


def test_cancel_needs_the_change_permission(jobs):
    helper = UserFactory(username="helper", is_staff=True)
    helper.user_permissions.add(Permission.objects.get(codename="view_generationjob"))
    client = Client()
    client.force_login(helper)
    page = client.get(JOBS).content.decode()
    assert "cancel_jobs" not in page
    client.post(JOBS, {"action": "cancel_jobs", "_selected_action": [jobs["queued"].pk]})
    assert GenerationJob.objects.get(pk=jobs["queued"].pk).status == "queued"

    helper.user_permissions.add(Permission.objects.get(codename="change_generationjob"))
    client.post(JOBS, {"action": "cancel_jobs", "_selected_action": [jobs["queued"].pk]})
    assert GenerationJob.objects.get(pk=jobs["queued"].pk).status == "cancelled"


def test_staff_without_permissions_gets_403(jobs):
    helper = UserFactory(username="helper", is_staff=True)
    client = Client()
    client.force_login(helper)
    assert client.get(JOBS).status_code == 403
    assert client.get(CONVERSATIONS).status_code == 403

"""GET /metrics: Prometheus text for staff or the configured token, nobody else; request latency by route pattern,
jobs by status, the queue depth, generation time and tokens."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from knox.models import AuthToken
from prometheus_client.parser import text_string_to_metric_families

from assistant.models import Conversation, GenerationJob


def _families(response) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def test_metrics_are_not_public(api_client, alice_client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    assert api_client.get("/metrics").status_code == 403
    assert alice_client.get("/metrics").status_code == 403
    assert api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")


def test_no_token_configured_means_staff_only(api_client, staff_user, settings):
    settings.METRICS_TOKEN = ""
    assert api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    _, token = AuthToken.objects.create(user=staff_user)
    assert api_client.get("/metrics", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200


def test_latency_by_route_and_job_figures(alice, alice_client, staff_user, api_client):
    conversation = Conversation.objects.create(owner=alice)
    now = timezone.now()
    for status, tokens, seconds in [
        ("queued", None, None),
        ("queued", None, None),
        ("succeeded", 40, 2.0),
        ("succeeded", 20, 2.0),
        ("failed", None, None),
    ]:
        GenerationJob.objects.create(
            owner=alice,
            conversation=conversation,
            input_messages=[],
            settings={},
            principle_versions=[],
            status=status,
            completion_tokens=tokens,
            generation_seconds=seconds,
            finished_at=now - timedelta(seconds=5) if tokens else None,
        )
    job = GenerationJob.objects.filter(status="queued").first()
    assert alice_client.get(f"/api/v1/jobs/{job.pk}/").status_code == 200
    _, token = AuthToken.objects.create(user=staff_user)
    families = _families(api_client.get("/metrics", HTTP_AUTHORIZATION=f"Token {token}"))

    latency = [
        sample
        for sample in families["principled_http_request_duration_seconds"]
        if sample.name.endswith("_count") and sample.labels["route"] == "/api/v1/jobs/<uuid:job_id>/"
    ]
    assert latency and latency[0].labels["method"] == "GET" and latency[0].value >= 1
    jobs = {sample.labels["status"]: sample.value for sample in families["principled_jobs"]}
    assert jobs["queued"] == 2 and jobs["succeeded"] == 2 and jobs["failed"] == 1 and jobs["cancelled"] == 0
    assert families["principled_queue_depth"][0].value == 2
    assert families["principled_generated_tokens"][0].value == 60
    assert families["principled_generation_seconds"][0].value == 4.0
    assert families["principled_generation_tokens_per_second"][0].value == 15.0

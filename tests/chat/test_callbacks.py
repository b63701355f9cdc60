import json
import time

import pytest

from assistant.chat.callback_services import job_callback_deliver_with_retries
from assistant.chat.callbacks import (
    SIGNATURE_HEADER,
    CallbackUrlRejected,
    callback_signature,
    callback_signature_valid,
    callback_url_check,
)
from assistant.models import GenerationJob
from tests.chat.receiver import CallbackReceiver


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost:8000/x", "http://[::1]/x", "http://10.0.0.8/x", "http://192.168.1.1/x",
    "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/x", "file:///etc/passwd", "http://user:pw@8.8.8.8/",
    "not a url",
])
def test_unsafe_targets_are_refused(url, settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    with pytest.raises(CallbackUrlRejected):
        callback_url_check(url)


def test_public_address_and_allowed_private_targets(settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    callback_url_check("https://8.8.8.8/hook")
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    callback_url_check("http://127.0.0.1:9000/hook")


def test_signature_round_trip_and_tamper():
    header = callback_signature(body=b'{"a":1}', timestamp=int(time.time()), secret="s3cret")
    assert callback_signature_valid(body=b'{"a":1}', header=header, secret="s3cret")
    assert not callback_signature_valid(body=b'{"a":2}', header=header, secret="s3cret")
    assert not callback_signature_valid(body=b'{"a":1}', header=header, secret="other")
    old = callback_signature(body=b"x", timestamp=1000, secret="s3cret")
    assert not callback_signature_valid(body=b"x", header=old, secret="s3cret")


@pytest.mark.django_db
def test_signed_callback_delivered_when_the_job_ends(alice_client, conversation, settings, run_jobs, monkeypatch):
    from worker.celery_app import app

    monkeypatch.setattr(app.conf, "task_eager_propagates", False)  # eager apply() then runs the retries
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    settings.GENERATION_CALLBACK_BACKOFF_SECONDS = 0
    with CallbackReceiver(statuses=[503, 200]) as receiver, run_jobs():
        response = alice_client.post(f"/api/v1/conversations/{conversation.pk}/messages/",
                                     {"content": "Hi", "callback_url": receiver.url})
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert len(receiver.requests) == 2  # one refusal, then delivered on the retry
    headers, body = receiver.requests[-1]
    assert callback_signature_valid(body=body, header=headers[SIGNATURE_HEADER],
                                    secret=settings.GENERATION_CALLBACK_SECRET)
    payload = json.loads(body)
    assert payload["event"] == "job.finished" and payload["job"]["id"] == str(job.pk)
    assert payload["job"]["reply"]["content"] == "echo Hi (0 principles, alpha 3.0)"
    assert job.callback_status == "delivered" and job.callback_attempts == 2


@pytest.mark.django_db
def test_in_process_delivery_gives_up_after_max_attempts(alice, settings):
    from assistant.chat.services import completion_submit

    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    settings.GENERATION_CALLBACK_BACKOFF_SECONDS = 0
    settings.GENERATION_CALLBACK_MAX_ATTEMPTS = 3
    job, _ = completion_submit(user=alice, messages=[{"role": "user", "content": "Hi"}], generation_settings={})
    with CallbackReceiver(statuses=[500, 500, 500, 500]) as receiver:
        GenerationJob.objects.filter(pk=job.pk).update(callback_url=receiver.url, callback_status="pending",
                                                        status="succeeded")
        job_callback_deliver_with_retries(job_id=job.pk)
    job.refresh_from_db()
    assert len(receiver.requests) == 3
    assert job.callback_status == "failed" and job.callback_attempts == 3

"""Worker-side services: exclusive claims, idempotent runs, batching, cancellation, retries, the sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assistant import services
from assistant.execution import (
    generation_request_build,
    job_claim,
    job_complete,
    jobs_requeue_stale,
)
from assistant.models import GenerationJob, Reply
from worker.generation import job_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(monkeypatch):
    """Capture what would be sent to the broker instead of running it."""
    sent = []
    monkeypatch.setattr(
        "assistant.job_queue.job_enqueue", lambda *, job_id, countdown=0: sent.append((str(job_id), countdown))
    )
    return sent


def new_job(user, content="Hi", **settings):
    conversation = services.conversation_create(user=user)
    job, _ = services.message_submit(
        user=user, conversation_id=conversation.pk, content=content, generation_settings=settings
    )
    return job


def test_a_job_is_claimed_once(alice, queue):
    job = new_job(alice)
    first = job_claim(job_id=job.pk, worker_id="w1")
    assert first is not None and first.status == "running" and first.attempts == 1
    assert job_claim(job_id=job.pk, worker_id="w2") is None


def test_a_finished_job_is_not_run_again(alice, queue, scripted_engine):
    job = new_job(alice)
    job_run(job_id=job.pk, worker_id="w1")
    job_run(job_id=job.pk, worker_id="w2")
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 1 and job.worker_id == "w1"
    assert scripted_engine.batches == [1] and Reply.objects.count() == 1


def test_a_stale_claim_cannot_overwrite_a_newer_run(alice, queue, scripted_engine):
    job = new_job(alice)
    stale = job_claim(job_id=job.pk, worker_id="dead")
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs_requeue_stale() == [str(job.pk)]
    job_run(job_id=job.pk, worker_id="w2")
    result = scripted_engine.generate(generation_request_build(job=stale))
    assert job_complete(job=stale, result=result, worker_id="dead") is False
    job.refresh_from_db()
    assert job.worker_id == "w2" and job.attempts == 2 and Reply.objects.count() == 1


def test_queued_jobs_are_batched(alice, bob, queue, scripted_engine):
    jobs = [new_job(alice, "a"), new_job(bob, "b"), new_job(alice, "c")]
    job_run(job_id=jobs[1].pk, worker_id="w1")
    assert scripted_engine.batches == [3]
    for job in jobs:
        job.refresh_from_db()
        assert job.status == "succeeded"
    assert jobs[1].reply.content.startswith("echo b")
    assert jobs[0].reply.content.startswith("echo a") and jobs[2].reply.content.startswith("echo c")


def test_batch_size_one_runs_only_the_job(alice, queue, scripted_engine, settings):
    settings.GENERATION_BATCH_SIZE = 1
    first, second = new_job(alice), new_job(alice)
    job_run(job_id=second.pk, worker_id="w1")
    first.refresh_from_db()
    assert scripted_engine.batches == [1] and first.status == "queued"


def test_cancel_requested_mid_generation(alice, queue, scripted_engine, monkeypatch):
    from assistant import execution

    job = new_job(alice, "one two three four five six")
    monkeypatch.setattr(execution._BatchMonitor, "CANCEL_POLL_SECONDS", 0)
    original = execution._BatchMonitor.on_delta

    def cancel_after_two(self, index, text):
        original(self, index, text)
        if len(self.__dict__.setdefault("seen", [])) == 1:
            GenerationJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        self.seen.append(text)

    monkeypatch.setattr(execution._BatchMonitor, "on_delta", cancel_after_two)
    job_run(job_id=job.pk, worker_id="w1")
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finish_reason == "cancelled"
    assert job.completion_tokens == 2 and not Reply.objects.exists()


def test_a_job_taken_over_mid_generation_stops_decoding_and_writes_nothing(alice, queue, scripted_engine, monkeypatch):
    import uuid

    from assistant import execution

    job = new_job(alice, "one two three four five six")
    monkeypatch.setattr(execution._BatchMonitor, "CANCEL_POLL_SECONDS", 0)
    original = execution._BatchMonitor.on_delta
    new_claim = uuid.uuid4()
    seen = []

    def taken_over_after_two(self, index, text):
        original(self, index, text)
        if len(seen) == 1:  # the sweep hands the job to another worker
            GenerationJob.objects.filter(pk=job.pk).update(claim_token=new_claim, worker_id="w2")
        seen.append(text)

    monkeypatch.setattr(execution._BatchMonitor, "on_delta", taken_over_after_two)
    job_run(job_id=job.pk, worker_id="w1")
    job.refresh_from_db()
    assert len(seen) == 2  # the old worker stopped at its next token
    assert job.status == "running" and job.claim_token == new_claim and job.worker_id == "w2"
    assert job.completion_tokens is None and not Reply.objects.exists()


def test_engine_error_requeues_with_backoff_then_fails(alice, queue, scripted_engine, settings):
    settings.GENERATION_MAX_ATTEMPTS = 2
    scripted_engine.fail_with = RuntimeError("CUDA out of memory")
    job = new_job(alice)
    job_run(job_id=job.pk, worker_id="w1")
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 1 and job.error_code == "generation_error"
    assert queue[-1] == (str(job.pk), 2)
    job_run(job_id=job.pk, worker_id="w1")
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == 2
    assert "CUDA out of memory" in job.error_message


def test_sweep_requeues_stale_queued_and_running_jobs(alice, bob, queue, settings):
    settings.GENERATION_QUEUED_DEADLINE_SECONDS = 60
    settings.GENERATION_RUNNING_DEADLINE_SECONDS = 60
    fresh, lost_message, dead_worker, alive_worker = new_job(alice), new_job(bob), new_job(alice), new_job(bob)
    queue.clear()
    long_ago = timezone.now() - timedelta(minutes=5)
    GenerationJob.objects.filter(pk=lost_message.pk).update(enqueued_at=long_ago)
    job_claim(job_id=dead_worker.pk, worker_id="dead")
    GenerationJob.objects.filter(pk=dead_worker.pk).update(heartbeat_at=long_ago)
    job_claim(job_id=alive_worker.pk, worker_id="alive")

    requeued = jobs_requeue_stale()
    assert sorted(requeued) == sorted([str(lost_message.pk), str(dead_worker.pk)])
    assert sorted(job_id for job_id, _ in queue) == sorted(requeued)
    dead_worker.refresh_from_db()
    assert dead_worker.status == "queued" and dead_worker.claim_token is None
    assert GenerationJob.objects.get(pk=alive_worker.pk).status == "running"
    assert GenerationJob.objects.get(pk=fresh.pk).status == "queued"
    assert jobs_requeue_stale() == []  # deadlines restart once re-queued


def test_sweep_fails_a_job_that_lost_too_many_workers(alice, queue, settings):
    settings.GENERATION_MAX_ATTEMPTS = 1
    job = new_job(alice)
    job_claim(job_id=job.pk, worker_id="dead")
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    jobs_requeue_stale()
    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "worker_lost"


def test_a_redelivered_message_takes_over_a_dead_workers_job(alice, queue):
    job = new_job(alice)
    job_claim(job_id=job.pk, worker_id="dead")
    assert job_claim(job_id=job.pk, worker_id="w2") is None  # its worker is alive (fresh heartbeat)
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    taken = job_claim(job_id=job.pk, worker_id="w2")
    assert taken is not None and taken.worker_id == "w2" and taken.attempts == 2


def test_a_refused_request_fails_alone_and_its_batch_mates_succeed(alice, bob, queue, scripted_engine):
    scripted_engine.refuse_content = "poison"
    good, poison, other = new_job(alice, "a"), new_job(bob, "poison"), new_job(alice, "c")
    job_run(job_id=good.pk, worker_id="w1")
    assert scripted_engine.batches == [3, 1, 1, 1]  # the batch, then each job alone
    for job in (good, poison, other):
        job.refresh_from_db()
    assert good.status == other.status == "succeeded"
    assert poison.status == "failed" and poison.error_code == "invalid_request" and poison.attempts == 1
    assert queue == []  # not retried: the engine refuses it for good


def test_a_retry_starts_the_stream_over(alice, queue, scripted_engine):
    from assistant import events

    scripted_engine.fail_with = RuntimeError("device lost")
    job = new_job(alice, "again")
    job_run(job_id=job.pk, worker_id="w1")
    scripted_engine.fail_with = None
    job_run(job_id=job.pk, worker_id="w2")
    log = events.job_events().read(job.pk, events.START_ID, block_ms=1)
    assert [event.kind for event in log][:2] == [events.RESTART, events.DELTA]
    assert log[0].data == {"attempt": 2}
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2


@pytest.fixture
def clock(monkeypatch):
    """`clock(seconds)` moves timezone.now that many seconds ahead of the real clock."""
    real_now = timezone.now

    def move(seconds: float) -> None:
        monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=seconds))

    return move


def test_a_job_in_retry_backoff_is_not_batched_before_it_is_due(alice, bob, queue, scripted_engine, clock):
    scripted_engine.fail_with = RuntimeError("device lost")
    retried = new_job(alice, "retried")
    job_run(job_id=retried.pk, worker_id="w1")
    assert queue[-1] == (str(retried.pk), 2)  # released with a 2 s backoff
    scripted_engine.fail_with = None

    early = new_job(bob, "early")
    job_run(job_id=early.pk, worker_id="w2")
    retried.refresh_from_db()
    assert scripted_engine.batches == [1, 1] and retried.status == "queued" and retried.attempts == 1

    clock(3)  # the backoff is over
    late = new_job(bob, "late")
    job_run(job_id=late.pk, worker_id="w2")
    retried.refresh_from_db()
    assert scripted_engine.batches == [1, 1, 2] and retried.status == "succeeded" and retried.attempts == 2


def test_sweep_counts_a_backoff_jobs_deadline_from_when_it_is_due(alice, queue, scripted_engine, settings, clock):
    settings.GENERATION_QUEUED_DEADLINE_SECONDS = 1
    scripted_engine.fail_with = RuntimeError("device lost")
    job = new_job(alice)
    job_run(job_id=job.pk, worker_id="w1")  # due in 2 s
    clock(1.5)  # past the deadline counted from the release, not from the due time
    assert jobs_requeue_stale() == []
    clock(3.5)  # due 2 s after the release, and then stale for more than 1 s: its message was lost
    assert jobs_requeue_stale() == [str(job.pk)]

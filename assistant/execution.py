"""Running jobs (the worker side): claim atomically, generate (batched), record the outcome, and the sweep.

Claims are conditional UPDATEs (`status='queued'` -> `running` with a fresh claim token), so two workers
that receive the same job id never both run it, and a finished job is never run again. Results are written
only while the claim token still matches, so a worker the sweep gave up on cannot overwrite a newer run.
"""

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from alignment_engine import (
    Engine,
    GenerationRequest,
    GenerationResult,
    InvalidParameterError,
)
from assistant import events, job_queue
from assistant.exceptions import GenerationTimeLimitExceeded
from assistant.generation_contract import generation_request_from_job
from assistant.models import Conversation, GenerationJob, Message, Reply
from assistant.services import job_finished_notify

logger = logging.getLogger(__name__)
Status = GenerationJob.Status


def job_claim(*, job_id, worker_id: str) -> GenerationJob | None:
    """Take a job for this worker: a queued one, or a running one whose worker stopped sending heartbeats
    (a redelivered message of a dead worker). None when finished, cancelled, or held by a live worker."""
    now = timezone.now()
    token = uuid.uuid4()
    stale = Q(
        status=Status.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=settings.GENERATION_RUNNING_DEADLINE_SECONDS),
        attempts__lt=settings.GENERATION_MAX_ATTEMPTS,
    )
    claimed = GenerationJob.objects.filter(Q(status=Status.QUEUED) | stale, pk=job_id).update(
        status=Status.RUNNING,
        claim_token=token,
        worker_id=worker_id,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
    )
    return GenerationJob.objects.get(pk=job_id) if claimed else None


def jobs_claim_batch(*, job_id, worker_id: str, limit: int) -> list[GenerationJob]:
    """Claim `job_id` and, when it was claimed, up to limit-1 more queued jobs to decode with it: jobs that are
    due, not ones waiting out a retry backoff (their `enqueued_at` is in the future)."""
    first = job_claim(job_id=job_id, worker_id=worker_id)
    if first is None:
        return []
    claimed = [first]
    candidates = (
        GenerationJob.objects.filter(status=Status.QUEUED, cancel_requested=False, enqueued_at__lte=timezone.now())
        .order_by("created_at")
        .values_list("pk", flat=True)[: max(limit - 1, 0)]
    )
    for candidate in list(candidates):
        job = job_claim(job_id=candidate, worker_id=worker_id)
        if job is not None:
            claimed.append(job)
    return claimed


def generation_request_build(*, job: GenerationJob) -> GenerationRequest:
    return generation_request_from_job(
        messages=job.input_messages,
        principle_versions=job.principle_versions,
        settings_used=job.settings,
    )


class _BatchMonitor:
    """Relays deltas to the event log, keeps the claims' heartbeat fresh, and reads cancel requests."""

    CANCEL_POLL_SECONDS = 0.5

    def __init__(self, jobs: list[GenerationJob], *, restarted: bool):
        self.jobs = jobs
        self.log = events.job_events()
        self.cancelled: set[int] = set()
        self.last_heartbeat = self.last_cancel_poll = time.monotonic()
        for job in jobs:
            if restarted or job.attempts > 1:  # readers drop the text of the earlier attempt
                self.log.publish(job.id, events.RESTART, {"attempt": job.attempts})

    def on_delta(self, index: int, text: str) -> None:
        if text:
            self.log.publish(self.jobs[index].id, events.DELTA, {"text": text})
        self._heartbeat()

    def should_cancel(self, index: int) -> bool:
        now = time.monotonic()
        if now - self.last_cancel_poll >= self.CANCEL_POLL_SECONDS:
            self.last_cancel_poll = now
            # Cancelled, gone (its conversation was deleted) or no longer ours (the sweep or another worker took
            # it over): stop decoding it.
            wanted = set(
                GenerationJob.objects.filter(
                    pk__in=[job.pk for job in self.jobs],
                    cancel_requested=False,
                    status=Status.RUNNING,
                    claim_token__in=[job.claim_token for job in self.jobs],
                ).values_list("pk", "claim_token")
            )
            self.cancelled = {i for i, job in enumerate(self.jobs) if (job.pk, job.claim_token) not in wanted}
            self._heartbeat()
        return index in self.cancelled

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self.last_heartbeat < settings.GENERATION_HEARTBEAT_SECONDS:
            return
        self.last_heartbeat = now
        for job in self.jobs:
            GenerationJob.objects.filter(pk=job.pk, claim_token=job.claim_token).update(heartbeat_at=timezone.now())


def job_run(*, job_id, worker_id: str, engine: Engine) -> None:
    """Run the job (and queued jobs batched with it) to an end state. Safe to call for any job id, any time.

    The caller loads the engine before calling, so a claim is never held through a model load."""
    jobs = jobs_claim_batch(job_id=job_id, worker_id=worker_id, limit=settings.GENERATION_BATCH_SIZE)
    runnable, requests = [], []
    for job in jobs:
        try:
            requests.append(generation_request_build(job=job))
            runnable.append(job)
        except InvalidParameterError as exc:
            job_fail(job=job, code="invalid_request", message=str(exc))
    if not runnable:
        return
    try:
        _generate(engine, runnable, requests, worker_id=worker_id, restarted=False)
    except GenerationTimeLimitExceeded:
        for job in runnable:
            job_fail(job=job, code="timeout", message="Generation exceeded the task time limit.")
    except Exception as exc:
        if len(runnable) == 1:
            _failed(runnable[0], exc)
            return
        # One bad request must not fail its batch-mates: run each alone, so only the culprit fails.
        logger.warning("batch of %d failed (%r); running its jobs one by one", len(runnable), exc)
        for job, request in zip(runnable, requests, strict=True):
            try:
                _generate(engine, [job], [request], worker_id=worker_id, restarted=True)
            except GenerationTimeLimitExceeded:
                job_fail(job=job, code="timeout", message="Generation exceeded the task time limit.")
            except Exception as alone_exc:
                _failed(job, alone_exc)


def _generate(
    engine: Engine, jobs: list[GenerationJob], requests: list[GenerationRequest], *, worker_id: str, restarted: bool
) -> None:
    monitor = _BatchMonitor(jobs, restarted=restarted)
    results = engine.generate_batch(requests, on_delta=monitor.on_delta, should_cancel=monitor.should_cancel)
    for job, result in zip(jobs, results, strict=True):
        job_complete(job=job, result=result, worker_id=worker_id)


def _failed(job: GenerationJob, exc: Exception) -> None:
    """A request the engine refuses fails at once; any other error is retried (with backoff) or fails."""
    if isinstance(exc, InvalidParameterError):
        job_fail(job=job, code="invalid_request", message=str(exc))
        return
    logger.exception("generation failed for job %s", job.pk, exc_info=exc)
    job_release_or_fail(job=job, code="generation_error", message=f"{type(exc).__name__}: {exc}")


def _job_finish_if_owned(*, job: GenerationJob, **fields: Any) -> GenerationJob | None:
    """Lock the job and write its final fields, only while this claim still owns the running job."""
    owned = (
        GenerationJob.objects.select_for_update()
        .filter(
            pk=job.pk,
            status=Status.RUNNING,
            claim_token=job.claim_token,
        )
        .first()
    )
    if owned is None:
        return None
    now = timezone.now()
    fields = {"finished_at": now, "latency_ms": int((now - owned.created_at).total_seconds() * 1000), **fields}
    for name, value in fields.items():
        setattr(owned, name, value)
    owned.save(update_fields=list(fields))
    return owned


@transaction.atomic
def job_complete(*, job: GenerationJob, result: GenerationResult, worker_id: str) -> bool:
    """Record a finished generation (reply message included); False when this claim no longer owns the job."""
    cancelled = result.finish_reason == "cancelled"
    owned = _job_finish_if_owned(
        job=job,
        status=Status.CANCELLED if cancelled else Status.SUCCEEDED,
        model_id=result.model_id,
        backend=result.backend,
        worker_id=worker_id,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.tokens,
        finish_reason=result.finish_reason,
        generation_seconds=result.seconds,
        timings=result.timings,
    )
    if owned is None:
        return False
    if not cancelled:
        message = None
        if owned.conversation_id is not None:
            conversation = Conversation.objects.select_for_update().get(pk=owned.conversation_id)
            last = conversation.messages.aggregate(last=Max("position"))["last"]
            message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                content=result.text,
                position=0 if last is None else last + 1,
            )
            conversation.save(update_fields=["updated_at"])
        Reply.objects.create(job=owned, message=message, content=result.text)
    job_finished_notify(job=owned)
    return True


@transaction.atomic
def job_fail(*, job: GenerationJob, code: str, message: str) -> bool:
    owned = _job_finish_if_owned(job=job, status=Status.FAILED, error_code=code, error_message=message[:2000])
    if owned is None:
        return False
    job_finished_notify(job=owned)
    return True


def job_release_or_fail(*, job: GenerationJob, code: str, message: str) -> None:
    """After a failed attempt: queue the job again with backoff, or fail it once attempts are used up.

    `enqueued_at` becomes the time the job is due, so other workers' batches leave it alone until then."""
    if job.attempts >= settings.GENERATION_MAX_ATTEMPTS:
        job_fail(job=job, code=code, message=message)
        return
    countdown = min(2**job.attempts, 60)
    released = GenerationJob.objects.filter(pk=job.pk, status=Status.RUNNING, claim_token=job.claim_token).update(
        status=Status.QUEUED,
        claim_token=None,
        worker_id="",
        enqueued_at=timezone.now() + timedelta(seconds=countdown),
        error_code=code,
        error_message=message[:2000],
    )
    if released:
        job_queue.job_enqueue(job_id=job.pk, countdown=countdown)


def jobs_requeue_stale() -> list[str]:
    """The periodic sweep: re-queue jobs queued or running past their deadline (lost messages, dead workers).

    A queued job's deadline counts from `enqueued_at`, the time it became due (later than now while it waits out
    a retry backoff), so a job in backoff is not re-queued early.

    Re-queuing is safe to repeat: a duplicate message finds the job claimed or finished and does nothing.
    """
    now = timezone.now()
    queued_before = now - timedelta(seconds=settings.GENERATION_QUEUED_DEADLINE_SECONDS)
    running_before = now - timedelta(seconds=settings.GENERATION_RUNNING_DEADLINE_SECONDS)
    requeued = []
    for job_id in list(
        GenerationJob.objects.filter(status=Status.QUEUED, enqueued_at__lt=queued_before).values_list("pk", flat=True)
    ):
        if GenerationJob.objects.filter(pk=job_id, status=Status.QUEUED, enqueued_at__lt=queued_before).update(
            enqueued_at=now
        ):
            job_queue.job_enqueue(job_id=job_id)
            requeued.append(str(job_id))
    for job in list(GenerationJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=running_before)):
        if job.attempts >= settings.GENERATION_MAX_ATTEMPTS:
            job_fail(job=job, code="worker_lost", message="The worker running this job stopped responding.")
            continue
        if GenerationJob.objects.filter(pk=job.pk, status=Status.RUNNING, claim_token=job.claim_token).update(
            status=Status.QUEUED,
            claim_token=None,
            worker_id="",
            enqueued_at=now,
        ):
            job_queue.job_enqueue(job_id=job.pk)
            requeued.append(str(job.pk))
    if requeued:
        logger.warning("re-queued %d stale generation jobs: %s", len(requeued), requeued)
    return requeued

"""Celery tasks: thin wrappers around the assistant's execution and callback services.

Queues come from settings: CELERY_TASK_DEFAULT_QUEUE ("generation") and CELERY_TASK_ROUTES ("callbacks").

Messages carry only a job id; the job row in PostgreSQL says what to run and whether it still needs running.
"""

import redis.exceptions
from celery import shared_task
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError

from assistant.callback_services import callback_backoff_seconds, job_callback_deliver
from assistant.execution import jobs_requeue_stale
from assistant.refinement import preferences_refine
from worker.engine import get_engine
from worker.generation import job_run

TRANSIENT_ERRORS = (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@worker_process_init.connect
def load_engine_in_worker_process(**_kwargs) -> None:
    """Prefork children load the engine as they start, not on their first job (unless this worker does no
    generation, like the `callbacks` worker of docker-compose.yml)."""
    if settings.GENERATION_PRELOAD_ENGINE:
        get_engine()


@worker_ready.connect
def load_engine_in_single_process_worker(sender, **_kwargs) -> None:
    """Solo/thread pools run tasks in the worker process itself: load it there (prefork parents don't)."""
    if settings.GENERATION_PRELOAD_ENGINE and not isinstance(sender.pool, PreforkPool):
        get_engine()


@shared_task(autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=60, retry_jitter=True, max_retries=5)
def run_generation_job(job_id: str) -> None:
    """acks_late and reject_on_worker_lost come from settings: a dead worker's message is delivered again."""
    job_run(job_id=job_id)


@shared_task(bind=True, max_retries=None, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True)
def deliver_callback(self, job_id: str) -> None:
    """One attempt; a failed one is retried with backoff up to GENERATION_CALLBACK_MAX_ATTEMPTS."""
    attempt = self.request.retries
    final = attempt + 1 >= settings.GENERATION_CALLBACK_MAX_ATTEMPTS
    if not job_callback_deliver(job_id=job_id, final_attempt=final):
        raise self.retry(countdown=callback_backoff_seconds(attempt=attempt))


@shared_task
def requeue_stale_jobs() -> list[str]:
    """Run by celery beat every GENERATION_SWEEP_INTERVAL_SECONDS (on the light `callbacks` queue, so a backlog
    of generation jobs does not delay it)."""
    return jobs_requeue_stale()


@shared_task(queue="callbacks", autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=5)
def refine_preferences(user_id: int) -> int:
    """After a feedback commits: turn the user's feedback into suggestions (light work: the `callbacks` queue)."""
    return len(preferences_refine(user_id=user_id))

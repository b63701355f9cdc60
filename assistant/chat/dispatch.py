"""Hand a job to whoever runs it: the Celery `generation` queue, or (embedded mode, no broker) a thread pool
in this process that calls the same execution function a worker calls."""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    executor = ThreadPoolExecutor(max_workers=settings.GENERATION_IN_PROCESS_WORKERS, thread_name_prefix="generation")
    threading.Thread(target=_sweep_forever, name="generation-sweep", daemon=True).start()
    return executor


def _sweep_forever() -> None:
    """The embedded mode's celery beat: re-queue stale jobs (e.g. left by a previous server run)."""
    from assistant.chat.execution import jobs_requeue_stale

    while True:
        close_old_connections()
        try:
            jobs_requeue_stale()
        except Exception:  # keep sweeping after a transient database error
            logger.exception("in-process sweep failed")
        finally:
            connections.close_all()  # this thread's connections; it sleeps for a while now
        time.sleep(settings.GENERATION_SWEEP_INTERVAL_SECONDS)


@lru_cache(maxsize=1)
def _callback_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="callbacks")


def _in_process(executor: ThreadPoolExecutor, function, countdown: float, **kwargs) -> None:
    def run() -> None:
        close_old_connections()
        try:
            function(**kwargs)
        finally:
            connections.close_all()  # this thread's connections: pool threads outlive requests

    if countdown > 0:
        threading.Timer(countdown, executor.submit, args=(run,)).start()
    else:
        executor.submit(run)


def job_enqueue(*, job_id, countdown: float = 0) -> None:
    if settings.GENERATION_IN_PROCESS:
        from assistant.chat.execution import job_run
        from worker.engine import worker_identity

        _in_process(_executor(), job_run, countdown, job_id=str(job_id), worker_id=worker_identity())
        return
    from worker.tasks import run_generation_job

    run_generation_job.apply_async(args=[str(job_id)], countdown=countdown or None)


def callback_enqueue(*, job_id) -> None:
    if settings.GENERATION_IN_PROCESS:
        from assistant.chat.callback_services import job_callback_deliver_with_retries

        _in_process(_callback_executor(), job_callback_deliver_with_retries, 0, job_id=str(job_id))
        return
    from worker.tasks import deliver_callback

    deliver_callback.apply_async(args=[str(job_id)])

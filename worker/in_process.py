"""The embedded mode's runner (no broker): a thread pool in the web process runs the same worker functions the
Celery tasks run, a sweep thread does celery beat's job, and callbacks are retried with the same backoff.

Started on first use; `shutdown()` stops the sweep and the pools (at process exit, and after each test).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

from assistant.callback_services import callback_backoff_seconds, job_callback_deliver
from assistant.execution import jobs_requeue_stale
from assistant.refinement import preferences_refine
from worker import generation

logger = logging.getLogger(__name__)


class InProcessRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._generation: ThreadPoolExecutor | None = None
        self._callbacks: ThreadPoolExecutor | None = None
        self._sweep: threading.Thread | None = None
        self._timers: set[threading.Timer] = set()

    @property
    def started(self) -> bool:
        return self._generation is not None or self._callbacks is not None

    def _pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        with self._lock:
            if self._generation is None:
                self._stopping.clear()
                self._generation = ThreadPoolExecutor(
                    max_workers=settings.GENERATION_IN_PROCESS_WORKERS, thread_name_prefix="generation"
                )
                self._callbacks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="callbacks")
                self._sweep = threading.Thread(target=self._sweep_until_stopped, name="generation-sweep", daemon=True)
                self._sweep.start()
            return self._generation, self._callbacks

    def submit(
        self, function: Callable[..., Any], *, countdown: float = 0, callbacks: bool = False, **kwargs: Any
    ) -> None:
        generation_pool, callback_pool = self._pools()
        pool = callback_pool if callbacks else generation_pool

        def run() -> None:
            close_old_connections()
            try:
                function(**kwargs)
            finally:
                connections.close_all()  # this thread's connections: pool threads outlive requests

        if countdown > 0:
            timer = threading.Timer(countdown, self._submit_later, args=(pool, run))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            pool.submit(run)

    def _submit_later(self, pool: ThreadPoolExecutor, run: Callable[[], None]) -> None:
        with self._lock:
            current = threading.current_thread()
            self._timers = {timer for timer in self._timers if timer.is_alive() and timer is not current}
            if self._stopping.is_set():
                return
        pool.submit(run)

    def _sweep_until_stopped(self) -> None:
        """Re-queue stale jobs (e.g. left by a previous server run) until stopped."""
        while not self._stopping.is_set():
            close_old_connections()
            try:
                jobs_requeue_stale()
            except Exception:  # keep sweeping after a transient database error
                logger.exception("in-process sweep failed")
            finally:
                connections.close_all()  # this thread's connections; it sleeps for a while now
            self._stopping.wait(settings.GENERATION_SWEEP_INTERVAL_SECONDS)

    def wait_unless_stopped(self, seconds: float) -> bool:
        """Sleep `seconds`; True when the runner was stopped meanwhile."""
        return self._stopping.wait(seconds)

    def shutdown(self) -> None:
        """Stop the sweep, drop pending retries and wait for running work to end."""
        with self._lock:
            self._stopping.set()
            timers, self._timers = self._timers, set()
            pools = [pool for pool in (self._generation, self._callbacks) if pool is not None]
            sweep, self._sweep = self._sweep, None
            self._generation = self._callbacks = None
        for timer in timers:
            timer.cancel()
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
        if sweep is not None:
            sweep.join(timeout=30)


runner = InProcessRunner()
atexit.register(runner.shutdown)


def job_callback_deliver_with_retries(*, job_id: str) -> None:
    """The embedded mode's delivery loop (Celery's deliver_callback task retries through the broker)."""
    attempts = settings.GENERATION_CALLBACK_MAX_ATTEMPTS
    for attempt in range(attempts):
        if job_callback_deliver(job_id=job_id, final_attempt=attempt == attempts - 1):
            return
        if runner.wait_unless_stopped(callback_backoff_seconds(attempt=attempt)):
            return


def send_generation(*, job_id: str, countdown: float = 0) -> None:
    runner.submit(generation.job_run, countdown=countdown, job_id=job_id)


def send_callback(*, job_id: str) -> None:
    runner.submit(job_callback_deliver_with_retries, callbacks=True, job_id=job_id)


def send_refinement(*, user_id: int) -> None:
    runner.submit(preferences_refine, callbacks=True, user_id=user_id)


def shutdown() -> None:
    runner.shutdown()

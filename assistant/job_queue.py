"""The port through which the domain hands work to whoever runs it.

The domain only says "run this job", "deliver this job's callback" or "refine this user's principles"; the
worker package registers the adapter that does it (Celery's queues, or the in-process runner of the embedded
mode) when its app is ready, so the domain never imports the worker or Celery. Messages carry ids only: the
rows say what to do.
"""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    def send_generation(self, *, job_id: str, countdown: float = 0) -> None:
        """Run the generation job (after `countdown` seconds)."""
        ...

    def send_callback(self, *, job_id: str) -> None:
        """Deliver the finished job's callback (retrying as the adapter's transport does)."""
        ...

    def send_refinement(self, *, user_id: int) -> None:
        """Refine the user's principles from their feedback (light work: suggestions, no generation)."""
        ...


_registered: JobQueue | None = None


def job_queue_register(queue: JobQueue) -> None:
    global _registered
    _registered = queue


def _queue() -> JobQueue:
    if _registered is None:
        raise RuntimeError("No job queue registered: add the `worker` app to INSTALLED_APPS.")
    return _registered


def job_enqueue(*, job_id, countdown: float = 0) -> None:
    _queue().send_generation(job_id=str(job_id), countdown=countdown)


def callback_enqueue(*, job_id) -> None:
    _queue().send_callback(job_id=str(job_id))


def refinement_enqueue(*, user_id: int) -> None:
    _queue().send_refinement(user_id=int(user_id))

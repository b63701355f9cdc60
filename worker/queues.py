"""The adapter the worker registers behind the domain's job-queue port (assistant.job_queue): Celery's queues
when a broker is configured, the in-process runner in the embedded mode (chosen per call, from settings)."""

from __future__ import annotations

from django.conf import settings

from worker import in_process, tasks


class WorkerJobQueue:
    def send_generation(self, *, job_id: str, countdown: float = 0) -> None:
        if settings.GENERATION_IN_PROCESS:
            in_process.send_generation(job_id=job_id, countdown=countdown)
        else:
            tasks.run_generation_job.apply_async(args=[job_id], countdown=countdown or None)

    def send_callback(self, *, job_id: str) -> None:
        if settings.GENERATION_IN_PROCESS:
            in_process.send_callback(job_id=job_id)
        else:
            tasks.deliver_callback.apply_async(args=[job_id])

    def send_refinement(self, *, user_id: int) -> None:
        if settings.GENERATION_IN_PROCESS:
            in_process.send_refinement(user_id=user_id)
        else:
            tasks.refine_preferences.apply_async(args=[user_id])

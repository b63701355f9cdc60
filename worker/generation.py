"""Running a generation job with this process's engine: the boundary between the worker's transport and the
domain's execution service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from alignment_engine import Engine, GenerationRequest, GenerationResult
from assistant import execution
from assistant.exceptions import GenerationTimeLimitExceeded
from worker import engine as process_engine


class _TimeLimitBoundary:
    """The engine as the domain sees it: Celery's soft time limit, raised inside a generation, becomes the
    domain's own GenerationTimeLimitExceeded."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.model_id, self.backend, self.device = engine.model_id, engine.backend, engine.device

    def generate_batch(
        self, requests: Sequence[GenerationRequest], on_delta: Any = None, should_cancel: Any = None
    ) -> list[GenerationResult]:
        try:
            return self._engine.generate_batch(requests, on_delta=on_delta, should_cancel=should_cancel)
        except SoftTimeLimitExceeded as exc:
            raise GenerationTimeLimitExceeded(str(exc) or "soft time limit") from exc


def job_run(*, job_id: str, worker_id: str | None = None) -> None:
    """Run the job (and queued jobs batched with it) on this process's engine, loaded before any claim."""
    engine = _TimeLimitBoundary(process_engine.get_engine())
    execution.job_run(job_id=job_id, worker_id=worker_id or process_engine.worker_identity(), engine=engine)

"""Errors of the assistant domain beyond the shared kinds of core.exceptions (no HTTP status here: the one
exception handler maps each kind)."""

from core.exceptions import OperationTimedOut, UpstreamFailed


class GenerationTimeout(OperationTimedOut):
    """A synchronous completion did not finish in time; the job keeps running and can be polled."""

    code = "generation_timeout"


class GenerationFailed(UpstreamFailed):
    """A synchronous completion's job failed; the body carries the job's error."""

    code = "generation_failed"


class GenerationTimeLimitExceeded(Exception):
    """The worker's time limit for a generation ran out (the task boundary turns its transport's own signal,
    Celery's soft time limit, into this)."""

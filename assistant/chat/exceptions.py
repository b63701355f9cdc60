"""Errors the chat services raise; assistant.errors renders them as the project's JSON error body."""
from rest_framework import status

from assistant.errors import ApplicationError


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "too_large"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class IdempotencyKeyReused(ApplicationError):
    """The Idempotency-Key was first used with a different request."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency_key_reused"


class GenerationTimeout(ApplicationError):
    """A synchronous completion did not finish in time; the job keeps running and can be polled."""

    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    code = "generation_timeout"


class GenerationFailed(ApplicationError):
    """A synchronous completion's job failed; the body carries the job's error."""

    status_code = status.HTTP_502_BAD_GATEWAY
    code = "generation_failed"

"""Errors services raise when a rule of the application refuses a request.

They say what went wrong (a code, a message, the fields concerned) and carry no HTTP status: the one exception
handler (core.exception_handler) maps each kind to its status and the JSON error body.
"""

from __future__ import annotations

from collections.abc import Mapping


class ApplicationError(Exception):
    """A rule of the application refused the request (invalid input unless a subclass says otherwise)."""

    code = "invalid_request"

    def __init__(self, message: str, *, fields: Mapping[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})
        if code is not None:
            self.code = code


class ResourceNotFound(ApplicationError):
    code = "not_found"


class PreconditionFailed(ApplicationError):
    """The client's ``If-Match`` does not match the current state (a lost update was prevented)."""

    code = "precondition_failed"


class Conflict(ApplicationError):
    """The request conflicts with the current state of the resource."""

    code = "conflict"


class LimitExceeded(Conflict):
    """A per-user quota would be exceeded."""

    code = "limit_exceeded"


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"


class PayloadTooLarge(ApplicationError):
    code = "too_large"


class IdempotencyKeyReused(ApplicationError):
    """The Idempotency-Key was first used with a different request."""

    code = "idempotency_key_reused"


class OperationTimedOut(ApplicationError):
    """A synchronous wait ended before the work did; the work goes on and can be polled."""

    code = "timeout"


class UpstreamFailed(ApplicationError):
    """Work the request waited for failed on the server's side."""

    code = "upstream_failed"

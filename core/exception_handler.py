"""One error format for every 4xx/5xx: ``{"error": {"code": "...", "message": "...", "fields": {...}}}``.

Holds the one mapping of the domain errors (core.exceptions) to HTTP statuses, the DRF exception handler, the
Django-level handlers (400/403/404/500, CSRF failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from psycopg_pool import PoolTimeout
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core import exceptions as domain

# The most specific class first: a subclass takes its own status.
_DOMAIN_STATUSES: tuple[tuple[type[domain.ApplicationError], int], ...] = (
    (domain.ResourceNotFound, status.HTTP_404_NOT_FOUND),
    (domain.PreconditionFailed, status.HTTP_412_PRECONDITION_FAILED),
    (domain.Conflict, status.HTTP_409_CONFLICT),
    (domain.InvalidCredentials, status.HTTP_401_UNAUTHORIZED),
    (domain.PayloadTooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (domain.IdempotencyKeyReused, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (domain.OperationTimedOut, status.HTTP_504_GATEWAY_TIMEOUT),
    (domain.UpstreamFailed, status.HTTP_502_BAD_GATEWAY),
)


def domain_error_status(exc: domain.ApplicationError) -> int:
    """The HTTP status of a domain error: its kind's, or 400 for a plain refusal of the input."""
    return next((code for kind, code in _DOMAIN_STATUSES if isinstance(exc, kind)), status.HTTP_400_BAD_REQUEST)


# --- Body -----------------------------------------------------------------------------------------------


def error_body(code: str, message: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, (list, tuple)):
        return [message for item in detail for message in _messages(item)]
    if isinstance(detail, Mapping):
        return [f"{key}: {message}" for key, value in detail.items() for message in _messages(value)]
    return [str(detail)]


def _flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"field": [...], "items.0.text": [...]}``."""
    if isinstance(detail, Mapping):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            fields.update(_flatten_fields(value, f"{prefix}{key}."))
        return fields
    if isinstance(detail, (list, tuple)) and any(isinstance(item, Mapping) for item in detail):
        fields = {}
        for index, item in enumerate(detail):
            if item:
                fields.update(_flatten_fields(item, f"{prefix}{index}."))
        return fields
    return {prefix.rstrip(".") or "non_field_errors": _messages(detail)}


def _validation_message(fields: Mapping[str, list[str]]) -> str:
    named = [name for name in fields if name != "non_field_errors"]
    if named:
        return "Invalid input: " + ", ".join(named) + "."
    messages = fields.get("non_field_errors") or ["Invalid input."]
    return messages[0]


def _validation_error_body(detail: Any) -> dict[str, Any]:
    if not isinstance(detail, Mapping):
        detail = {"non_field_errors": detail}
    fields = _flatten_fields(detail)
    return error_body("validation_error", _validation_message(fields), fields)


# --- Database pool exhausted ------------------------------------------------------------------------------

# Seconds a client is told to wait before retrying when no database connection was free (Retry-After).
POOL_EXHAUSTED_RETRY_AFTER_SECONDS = 1


def _pool_exhausted(exc: BaseException | None) -> bool:
    """Every connection of this process's pool stayed busy for DB_POOL_TIMEOUT_SECONDS: Django raises its
    OperationalError from psycopg_pool's PoolTimeout. A load condition that passes, not a server fault."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, PoolTimeout):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _service_unavailable() -> Response:
    response = Response(
        error_body("service_unavailable", "The server is busy (no database connection was free); retry shortly."),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(POOL_EXHAUSTED_RETRY_AFTER_SECONDS)
    return response


# --- DRF ------------------------------------------------------------------------------------------------

_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error a view raises leaves as the one JSON shape."""
    if isinstance(exc, domain.ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=domain_error_status(exc))
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = "Token"
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(_validation_error_body(detail), status=status.HTTP_400_BAD_REQUEST)

    if _pool_exhausted(exc):
        return _service_unavailable()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers with the JSON 500 body
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_error_body(exc.detail)
        return response
    if isinstance(exc, Http404):
        code, message = "not_found", "Not found."
    elif isinstance(exc, DjangoPermissionDenied):
        code, message = "permission_denied", "You do not have permission to perform this action."
    else:
        code = next((name for cls, name in _DRF_CODES.items() if isinstance(exc, cls)), None)
        detail = getattr(exc, "detail", "")
        code = code or (detail.code if hasattr(detail, "code") else "error")
        message = " ".join(_messages(detail)) or "Error."
    if isinstance(exc, exceptions.ParseError):
        message = f"Malformed request body: {message}"
    response.data = error_body(code, message)
    return response


# --- Django-level handlers (wired in config/urls.py) ----------------------------------------------------


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """CSRF_FAILURE_VIEW: the session-auth forms (admin) get the JSON error too."""
    return JsonResponse(error_body("csrf_failed", f"CSRF verification failed. {reason}".strip()), status=403)

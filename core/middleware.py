"""Request guards that run before any view or parser, and the JSON 404 of the API's path prefixes."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.exception_handler import error_body


class RequestBodyLimitMiddleware:
    """Refuse a body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413 before a parser reads it, and a body without
    a length (chunked) with 411.

    DRF's parsers read the request stream directly, so Django's own limit (checked on ``request.body``)
    would not apply to API requests; and DRF treats a body without Content-Length as empty, which would turn
    a chunked upload into a confusing "field required".
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Invalid Content-Length header."), status=400)
        if length <= 0 and request.META.get("HTTP_TRANSFER_ENCODING"):
            return JsonResponse(
                error_body("length_required", "Send the body with a Content-Length header (no chunked bodies)."),
                status=411,
            )
        if limit is not None and length > limit:
            return JsonResponse(
                error_body("request_too_large", f"Request body is larger than the limit of {limit} bytes."),
                status=413,
            )
        return self.get_response(request)


API_PATH_PREFIXES = ("/api/", "/v1/")


class JsonNotFoundMiddleware:
    """A 404 for any path under the API's prefixes is the JSON error body, in DEBUG too.

    Django answers a path no URL pattern matches (``/api/v1/jobs/abc/``) with its own page: the technical HTML
    page when DEBUG is on (``handler404`` only applies with DEBUG off). API clients always get the error body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith(API_PATH_PREFIXES)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse(error_body("not_found", "Not found."), status=404)
        return response

"""OpenAPI pieces shared by every API: the error body and its documented responses."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    400: "Invalid input: malformed JSON, wrong types, unknown or invalid fields (named in `fields`).",
    401: "Missing or invalid credentials (`Authorization: Token <token>` or a session).",
    403: "Authenticated but not allowed.",
    404: "No such object for this user (another user's id is also 404).",
    409: "A per-user limit would be exceeded.",
    412: "`If-Match` does not match the current ETag: the object changed since it was read.",
    413: "Request body larger than the configured limit.",
    415: "Only `application/json` bodies are accepted.",
    429: "Too many requests.",
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable error code.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field messages; empty when the error is not about a field.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_responses(*status_codes: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses={200: Output, **error_responses(400, 401, 404)})``."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in status_codes}

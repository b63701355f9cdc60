"""OpenAPI pieces shared by every API: the error body, its documented responses, and the schema class that adds
the responses every operation can give whatever its view says (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"])."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.settings import api_settings

from core.strict_input import StrictInputSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input: malformed JSON, wrong types, unknown or invalid fields (named in `fields`).",
    401: "Missing or invalid credentials (`Authorization: Token <token>` or a session).",
    403: "Authenticated but not allowed.",
    404: "No such object for this user (another user's id is also 404).",
    409: "A per-user limit would be exceeded.",
    411: "A body sent without Content-Length (chunked): send its length.",
    412: "`If-Match` does not match the current ETag: the object changed since it was read.",
    413: "Request body larger than the configured limit.",
    415: "Only `application/json` bodies are accepted.",
    429: "Too many requests.",
    503: "Busy: no database connection was free in time; retry after `Retry-After` seconds.",
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


BODY_METHODS = ("POST", "PUT", "PATCH")
FORMAT_NOT_FOUND = "No renderer for the `format` query parameter's value."
PAGINATION_INVALID = "`limit` or `offset` is not an integer in range (named in `fields`)."


# A string of no NUL characters (PostgreSQL cannot store them), and, where blank is refused after trimming, with at
# least one character that is not whitespace.
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class AutoSchema(SpectacularAutoSchema):
    """The schema says what the API accepts and answers, exactly:

    - the responses the kernel gives before a view runs: 411 and 413 for a body (core.middleware), 404 for an
      unknown `?format=` where the operation takes one (DRF's content negotiation), 400 for a bad `limit` or
      `offset` on a paginated list, and 503 on every operation when the database pool is exhausted
      (core.exception_handler);
    - the input rules of the strict serializers (core.strict_input): no unknown keys (`additionalProperties:
      false`), text without NUL characters, and not blank after trimming where blank is refused; lists that may
      not be empty (`minItems`).
    """

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictInputSerializer):
            schema["additionalProperties"] = False
        for name, field in serializer.fields.items():
            if getattr(field, "exclusive_minimum", False) and name in schema.get("properties", {}):
                schema["properties"][name]["exclusiveMinimum"] = True  # after the validators' minimum
        return schema

    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, (serializers.ListSerializer, serializers.ListField)) and schema.get("type") == "array":
            if not field.allow_empty or field.min_length:
                schema["minItems"] = max(1 if not field.allow_empty else 0, field.min_length or 0)
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def _get_serializer_field_meta(self, field: Any, direction: str) -> dict[str, Any]:
        meta = super()._get_serializer_field_meta(field, direction)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.read_only
            and not (isinstance(field, serializers.ChoiceField))
        ):
            if field.allow_blank:
                meta["pattern"] = NO_NUL_PATTERN
            else:
                meta["minLength"] = max(meta.get("minLength", 0), 1)
                meta["pattern"] = NOT_BLANK_PATTERN if field.trim_whitespace else NO_NUL_PATTERN
        return meta

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        # Every operation reads the database (credentials at least), so any may meet an exhausted connection pool.
        added: dict[int, str] = {503: ERROR_DESCRIPTIONS[503]}
        if self.method in BODY_METHODS:
            added.update({411: ERROR_DESCRIPTIONS[411], 413: ERROR_DESCRIPTIONS[413]})
        if api_settings.URL_FORMAT_OVERRIDE and len(self.map_renderers("format")) > 1:
            added[404] = FORMAT_NOT_FOUND
        if self._is_list_view() and self._get_paginator() is not None:
            added[400] = PAGINATION_INVALID
        for code, description in added.items():
            if str(code) in responses:
                continue
            responses[str(code)] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=description),
                str(code),
                direction=direction,
            )
        return dict(sorted(responses.items()))

"""Thin REST views for a user's principles: parse and validate, call a selector or service, serialise."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment_engine.rules import MAX_COUNT, MAX_FORBIDDEN_VALUES, MAX_RULE_TEXT
from core.exceptions import ApplicationError
from core.openapi import NOT_BLANK_PATTERN, error_responses
from core.pagination import BoundedLimitOffsetPagination
from core.strict_input import (
    JSONParser,
    QueryBooleanField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictInputSerializer,
    StrictIntegerField,
)
from preferences import models as limits
from preferences.models import Principle
from preferences.rules import rules_validate
from preferences.selectors import principle_get, principle_list, principle_version_get, principle_version_list
from preferences.services import (
    principle_create,
    principle_deactivate,
    principle_update,
    principle_version_restore,
)

TAGS = ["principles"]

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="ETag from a previous read; when it no longer matches, the request fails with 412 and "
    "changes nothing. Omit to write unconditionally.",
)
ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 201], description="Current entity tag."
)


def _rule_schema(kind: str, **value: object) -> dict:
    properties: dict = {"type": {"type": "string", "enum": [kind]}}
    if value:
        properties["value"] = value
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": ["type", "value"] if value else ["type"],
    }


RULE_TEXT = {"type": "string", "maxLength": MAX_RULE_TEXT, "pattern": NOT_BLANK_PATTERN}
RULE_COUNT = {"type": "integer", "minimum": 1, "maximum": MAX_COUNT}
RULE_TEXTS = {
    "oneOf": [RULE_TEXT, {"type": "array", "items": RULE_TEXT, "minItems": 1, "maxItems": MAX_FORBIDDEN_VALUES}]
}
FORBIDDEN_SCHEMA = _rule_schema("forbidden", **RULE_TEXTS)
FORBIDDEN_SCHEMA["properties"]["ignore_case"] = {"type": "boolean", "default": True}
RULE_SCHEMA = {
    "oneOf": [
        FORBIDDEN_SCHEMA,
        _rule_schema("casing", type="string", enum=["lower", "upper"]),
        _rule_schema("opening", **RULE_TEXT),
        _rule_schema("closing", **RULE_TEXT),
        _rule_schema("max_words", **RULE_COUNT),
        _rule_schema("max_sentences", **RULE_COUNT),
        _rule_schema("list_style", type="string", enum=["bullets", "none"]),
        _rule_schema("no_emoji"),
    ]
}


@extend_schema_field(
    {
        "type": "array",
        "items": RULE_SCHEMA,
        "description": (
            "Rules decoding keeps exactly, in their JSON form (docs/engine.md). At most one rule of each type other "
            "than `forbidden`, and a set that no reply could keep (an opening with a forbidden word) is refused."
        ),
    }
)
class RulesField(serializers.Field):
    """A list of rules in their JSON form; each rule and the set are validated by the engine's own parser."""

    def to_internal_value(self, data):
        """Errors nest under this field (`rules.0.value`, or `principles.0.rules.0.value` inside a list)."""
        if "\\u0000" in json.dumps(data):  # PostgreSQL cannot store NUL in JSON
            raise serializers.ValidationError("Rules may not contain NUL characters.")
        try:
            return rules_validate(data)
        except ApplicationError as exc:
            ((path, messages),) = exc.fields.items()
            detail: object = messages
            for part in reversed(path.split(".")[1:]):
                detail = {part: detail}
            raise serializers.ValidationError(detail) from None

    def to_representation(self, value):
        return value


class PrincipleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    weight = serializers.FloatField()
    active = serializers.BooleanField()
    rules = RulesField(help_text="Explicit rules ([]: none).")
    rule_recognition = serializers.BooleanField(help_text="Without explicit rules, rules are read from the text.")
    enforced_as = RulesField(
        help_text="The rules decoding keeps exactly for this principle: the explicit ones, "
        "else the ones recognised from its text; [] means steered by Linear Alignment only."
    )
    steered = serializers.BooleanField(
        help_text="Whether the text also steers by Linear Alignment; false when every sentence of it states a "
        "rule of enforced_as, which decoding keeps exactly."
    )
    position = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Number of the current version.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PrincipleVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    title = serializers.CharField()
    text = serializers.CharField()
    weight = serializers.FloatField()
    active = serializers.BooleanField()
    rules = RulesField()
    rule_recognition = serializers.BooleanField()
    enforced_as = RulesField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    suggestion = serializers.IntegerField(
        source="suggestion_id",
        allow_null=True,
        help_text="The accepted suggestion this version came from (null: written).",
    )


class PrincipleInputSerializer(StrictInputSerializer):
    """Fields of a principle a client may write (POST and PUT; PATCH makes every field optional)."""

    text = StrictCharField(max_length=limits.TEXT_MAX_LENGTH, help_text="1..2000 characters, trimmed.")
    title = StrictCharField(max_length=limits.TITLE_MAX_LENGTH, allow_blank=True, default="")
    weight = StrictFloatField(
        min_value=limits.WEIGHT_MIN,
        max_value=limits.WEIGHT_MAX,
        default=limits.WEIGHT_DEFAULT,
        help_text=limits.WEIGHT_HELP,
    )
    active = StrictBooleanField(default=True)
    rules = RulesField(
        required=False,
        default=list,
        help_text="Rules to keep exactly (replaces recognition for this principle); default [].",
    )
    rule_recognition = StrictBooleanField(
        default=True,
        help_text="Read rules from the text when there are no explicit ones (default true; false: steered only).",
    )
    position = StrictIntegerField(
        min_value=0, max_value=limits.POSITION_MAX, required=False, help_text="Default: after the last one."
    )


class PrincipleFilterSerializer(serializers.Serializer):
    active = QueryBooleanField()


class EmptyInputSerializer(StrictInputSerializer):
    pass


def _entity_tags(header: str | None) -> list[str]:
    """The tags of an If-Match / If-None-Match header, weak prefixes dropped (ETags here are exact)."""
    if header is None:
        return []
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def _if_match(request: Request) -> list[str] | None:
    header = request.headers.get("If-Match")
    return None if header is None else _entity_tags(header)


def _get_principle_or_404(request: Request, principle_id: int) -> Principle:
    principle = principle_get(user=request.user, principle_id=principle_id)
    if principle is None:
        raise NotFound("No such principle.")
    return principle


def principle_response(principle: Principle, status_code: int = status.HTTP_200_OK) -> Response:
    response = Response(PrincipleOutputSerializer(principle).data, status=status_code)
    response["ETag"] = principle.etag
    return response


class JsonApi(APIView):
    parser_classes = [JSONParser]


class PrincipleListCreateApi(JsonApi):
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(
        operation_id="principles_list",
        tags=TAGS,
        summary="List your principles",
        parameters=[
            OpenApiParameter("active", OpenApiTypes.BOOL, description="Only active (true) or inactive (false)."),
        ],
        responses={200: PrincipleOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = PrincipleFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        principles = principle_list(user=request.user, active=filters.validated_data["active"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(principles, request, view=self)
        return paginator.get_paginated_response(PrincipleOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="principles_create",
        tags=TAGS,
        summary="Create a principle (version 1)",
        request=PrincipleInputSerializer,
        parameters=[ETAG],
        responses={201: PrincipleOutputSerializer, **error_responses(400, 401, 409, 413, 415)},
    )
    def post(self, request: Request) -> Response:
        serializer = PrincipleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        principle = principle_create(owner=request.user, actor=request.user, **serializer.validated_data)
        response = principle_response(principle, status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"{principle.pk}/")
        return response


class PrincipleDetailApi(JsonApi):
    @extend_schema(
        operation_id="principles_retrieve",
        tags=TAGS,
        summary="Get one principle (with its ETag)",
        parameters=[
            ETAG,
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="ETag of the copy you hold; 304 without a body when it is still current.",
            ),
        ],
        responses={
            200: PrincipleOutputSerializer,
            304: OpenApiResponse(description="Not modified: the ETag in If-None-Match is current."),
            **error_responses(401, 404),
        },
    )
    def get(self, request: Request, principle_id: int) -> Response:
        principle = _get_principle_or_404(request, principle_id)
        if principle.etag in _entity_tags(request.headers.get("If-None-Match")):
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = principle.etag
            return response
        return principle_response(principle)

    def _update(self, request: Request, principle_id: int, *, partial: bool) -> Response:
        principle = _get_principle_or_404(request, principle_id)
        serializer = PrincipleInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        principle = principle_update(
            principle=principle, actor=request.user, if_match=_if_match(request), **serializer.validated_data
        )
        return principle_response(principle)

    @extend_schema(
        operation_id="principles_update",
        tags=TAGS,
        summary="Replace a principle (a new version when text, title, weight or active changed)",
        description="Omitted optional fields take their defaults (title empty, weight 1.0, active true); "
        "an omitted position is kept.",
        request=PrincipleInputSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: PrincipleOutputSerializer, **error_responses(400, 401, 404, 409, 412, 413, 415)},
    )
    def put(self, request: Request, principle_id: int) -> Response:
        return self._update(request, principle_id, partial=False)

    @extend_schema(
        operation_id="principles_partial_update",
        tags=TAGS,
        summary="Change some fields of a principle (a new version when text, title, weight or active changed)",
        request=PrincipleInputSerializer(partial=True),
        parameters=[IF_MATCH, ETAG],
        responses={200: PrincipleOutputSerializer, **error_responses(400, 401, 404, 409, 412, 413, 415)},
    )
    def patch(self, request: Request, principle_id: int) -> Response:
        return self._update(request, principle_id, partial=True)

    @extend_schema(
        operation_id="principles_destroy",
        tags=TAGS,
        summary="Deactivate a principle (its history is kept)",
        description="Deleting deactivates: the principle no longer steers replies, and a new version records it. "
        "Returns the deactivated principle. Deleting an inactive principle changes nothing.",
        parameters=[IF_MATCH, ETAG],
        responses={200: PrincipleOutputSerializer, **error_responses(401, 404, 412)},
    )
    def delete(self, request: Request, principle_id: int) -> Response:
        principle = _get_principle_or_404(request, principle_id)
        principle = principle_deactivate(principle=principle, actor=request.user, if_match=_if_match(request))
        return principle_response(principle)


class PrincipleVersionListApi(JsonApi):
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(
        operation_id="principles_versions_list",
        tags=TAGS,
        summary="List the versions of a principle, newest first",
        responses={200: PrincipleVersionOutputSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, principle_id: int) -> Response:
        principle = _get_principle_or_404(request, principle_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(principle_version_list(principle=principle), request, view=self)
        return paginator.get_paginated_response(PrincipleVersionOutputSerializer(page, many=True).data)


class PrincipleVersionDetailApi(JsonApi):
    @extend_schema(
        operation_id="principles_versions_retrieve",
        tags=TAGS,
        summary="Get one version of a principle",
        responses={200: PrincipleVersionOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, principle_id: int, number: int) -> Response:
        principle = _get_principle_or_404(request, principle_id)
        version = principle_version_get(principle=principle, number=number)
        if version is None:
            raise NotFound("No such version.")
        return Response(PrincipleVersionOutputSerializer(version).data)


class PrincipleVersionRestoreApi(JsonApi):
    @extend_schema(
        operation_id="principles_versions_restore",
        tags=TAGS,
        summary="Restore a version: its text, title and weight become a new current version",
        description="The active flag is kept as it is. The body must be empty or `{}`.",
        request=EmptyInputSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: PrincipleOutputSerializer, **error_responses(400, 401, 404, 412, 413, 415)},
    )
    def post(self, request: Request, principle_id: int, number: int) -> Response:
        principle = _get_principle_or_404(request, principle_id)
        EmptyInputSerializer(data=request.data).is_valid(raise_exception=True)
        principle = principle_version_restore(
            principle=principle, number=number, actor=request.user, if_match=_if_match(request)
        )
        return principle_response(principle)

"""Suggestions from feedback: list them, accept one (it becomes a principle or a new version) or reject it."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ResourceNotFound
from core.openapi import ErrorSerializer, error_responses
from core.pagination import BoundedLimitOffsetPagination
from preferences.apis import PrincipleOutputSerializer, principle_response
from preferences.models import Suggestion
from preferences.suggestion_selectors import suggestion_get, suggestion_list
from preferences.suggestion_services import suggestion_accept, suggestion_reject

TAGS = ["suggestions"]


class SuggestionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Suggestion.Kind.choices)
    principle = serializers.IntegerField(
        source="principle_id", allow_null=True, help_text="The principle it changes; null for a new principle."
    )
    text = serializers.CharField(allow_null=True, help_text="The proposed text (new or edited principle).")
    weight = serializers.FloatField(allow_null=True, help_text="The proposed weight (weight suggestions).")
    rule = serializers.JSONField(allow_null=True, help_text="The checkable rule the text states, when it is one.")
    rationale = serializers.CharField(help_text="What was measured.")
    feedback_ids = serializers.ListField(child=serializers.IntegerField(), help_text="The feedback it rests on.")
    status = serializers.ChoiceField(choices=Suggestion.Status.choices)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Suggestion) -> dict:
        data = super().to_representation(instance)
        data["text"] = instance.text or None
        return data


class SuggestionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Suggestion.Status.choices, required=False)


def _suggestion_or_404(request: Request, suggestion_id: int) -> Suggestion:
    suggestion = suggestion_get(user=request.user, suggestion_id=suggestion_id)
    if suggestion is None:
        raise ResourceNotFound("No such suggestion.")
    return suggestion


DECIDED = OpenApiResponse(
    ErrorSerializer,
    description="Already accepted or rejected, or it would exceed the "
    "active-principle limit, or the principle it changes is gone.",
)


class SuggestionListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(
        operation_id="suggestions_list",
        tags=TAGS,
        summary="Suggestions for your principles, newest first",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=[c for c, _ in Suggestion.Status.choices])],
        responses={200: SuggestionOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = SuggestionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        suggestions = suggestion_list(user=request.user, status=filters.validated_data.get("status"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(suggestions, request, view=self)
        return paginator.get_paginated_response(SuggestionOutputSerializer(page, many=True).data)


class SuggestionDetailApi(APIView):
    @extend_schema(
        operation_id="suggestions_retrieve",
        tags=TAGS,
        responses={200: SuggestionOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, suggestion_id: int) -> Response:
        return Response(SuggestionOutputSerializer(_suggestion_or_404(request, suggestion_id)).data)


class SuggestionAcceptApi(APIView):
    @extend_schema(
        operation_id="suggestions_accept",
        tags=TAGS,
        request=None,
        summary="Accept a suggestion: the principle it creates or changes is returned",
        responses={200: PrincipleOutputSerializer, 409: DECIDED, **error_responses(401, 404)},
    )
    def post(self, request: Request, suggestion_id: int) -> Response:
        outcome = suggestion_accept(suggestion=_suggestion_or_404(request, suggestion_id), actor=request.user)
        return principle_response(outcome.principle)


class SuggestionRejectApi(APIView):
    @extend_schema(
        operation_id="suggestions_reject",
        tags=TAGS,
        request=None,
        summary="Reject a suggestion (the same evidence is not proposed again)",
        responses={200: SuggestionOutputSerializer, 409: DECIDED, **error_responses(401, 404)},
    )
    def post(self, request: Request, suggestion_id: int) -> Response:
        suggestion = suggestion_reject(suggestion=_suggestion_or_404(request, suggestion_id))
        return Response(SuggestionOutputSerializer(suggestion).data)

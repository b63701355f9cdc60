"""Feedback on replies: `/api/v1/jobs/{job_id}/feedback/` (one per reply; `job_id` may also be the OpenAI
completion id `chatcmpl-<hex>`) and the user's list at `/api/v1/feedback/`. Thin views over the services."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant import feedback_selectors, feedback_services, selectors
from assistant.models import Feedback, GenerationJob
from core.exceptions import ResourceNotFound
from core.openapi import error_responses
from core.pagination import BoundedLimitOffsetPagination
from core.strict_input import StrictCharField, StrictInputSerializer

TAGS = ["feedback"]
COMMENT_MAX_CHARS = 2_000
CORRECTED_TEXT_MAX_CHARS = 20_000
TAGS_MAX = 10
TAG_MAX_CHARS = 50


class FeedbackProvenanceSerializer(serializers.Serializer):
    principle_versions = serializers.JSONField(help_text="The principle versions the reply applied.")
    alpha = serializers.FloatField()
    steering_arm = serializers.FloatField(allow_null=True, help_text="The learned arm the alpha came from, if any.")
    model = serializers.CharField(source="model_id")
    backend = serializers.CharField()


class FeedbackOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job_id = serializers.UUIDField()
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices, allow_null=True)
    comment = serializers.CharField()
    corrected_text = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    reply = serializers.CharField(source="reply_text", help_text="The reply as it was rated.")
    provenance = FeedbackProvenanceSerializer(source="*")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance: Feedback) -> dict:
        data = super().to_representation(instance)
        data["rating"] = instance.rating or None
        return data


class FeedbackInputSerializer(StrictInputSerializer):
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices, required=False, allow_null=True)
    comment = StrictCharField(required=False, allow_blank=True, max_length=COMMENT_MAX_CHARS, trim_whitespace=False)
    corrected_text = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=CORRECTED_TEXT_MAX_CHARS,
        trim_whitespace=False,
        help_text="What the reply should have said.",
    )
    tags = serializers.ListField(
        child=StrictCharField(max_length=TAG_MAX_CHARS, min_length=1), required=False, max_length=TAGS_MAX
    )


def _job_of(request: Request, job_id) -> GenerationJob:
    job = selectors.job_get(user=request.user, job_id=job_id)
    if job is None:
        raise ResourceNotFound("Job not found.")
    return job


def _feedback_of(request: Request, job_id) -> Feedback:
    feedback = feedback_selectors.feedback_of_job(user=request.user, job_id=_job_of(request, job_id).pk)
    if feedback is None:
        raise ResourceNotFound("This reply has no feedback.")
    return feedback


def _validated(request: Request, *, partial: bool = False) -> dict:
    data = FeedbackInputSerializer(data=request.data, partial=partial)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def _updated(request: Request, job_id, *, partial: bool) -> Response:
    """PUT (partial False: omitted fields are cleared) and PATCH (partial True) share this."""
    feedback = _feedback_of(request, job_id)
    values = _validated(request, partial=partial)
    return Response(
        FeedbackOutputSerializer(
            feedback_services.feedback_update(feedback=feedback, values=values, partial=partial)
        ).data
    )


JOB_ID = OpenApiParameter(
    "job_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The job's id (UUID) or its OpenAI completion id (`chatcmpl-<hex>`).",
)


class JobFeedbackApi(APIView):
    @extend_schema(
        operation_id="job_feedback_retrieve",
        tags=TAGS,
        parameters=[JOB_ID],
        responses={200: FeedbackOutputSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request: Request, job_id) -> Response:
        return Response(FeedbackOutputSerializer(_feedback_of(request, job_id)).data)

    @extend_schema(
        operation_id="job_feedback_create",
        tags=TAGS,
        parameters=[JOB_ID],
        request=FeedbackInputSerializer,
        summary="Rate or correct a reply",
        description="At least one of `rating`, `comment`, `corrected_text`. One feedback per reply. Refinement of "
        "your principles runs after it is stored; see `/api/v1/suggestions/`.",
        responses={
            201: FeedbackOutputSerializer,
            409: OpenApiResponse(
                error_responses(409)[409].response,
                description="The job has no reply yet, or the reply already has feedback.",
            ),
            **error_responses(400, 401, 404),
        },
    )
    def post(self, request: Request, job_id) -> Response:
        job = _job_of(request, job_id)
        feedback = feedback_services.feedback_create(job=job, values=_validated(request))
        return Response(FeedbackOutputSerializer(feedback).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="job_feedback_update",
        tags=TAGS,
        parameters=[JOB_ID],
        request=FeedbackInputSerializer,
        description="Replace the feedback (omitted fields are cleared).",
        responses={200: FeedbackOutputSerializer, **error_responses(400, 401, 404)},
    )
    def put(self, request: Request, job_id) -> Response:
        return _updated(request, job_id, partial=False)

    @extend_schema(
        operation_id="job_feedback_partial_update",
        tags=TAGS,
        parameters=[JOB_ID],
        request=FeedbackInputSerializer,
        description="Change the given fields of the feedback.",
        responses={200: FeedbackOutputSerializer, **error_responses(400, 401, 404)},
    )
    def patch(self, request: Request, job_id) -> Response:
        return _updated(request, job_id, partial=True)

    @extend_schema(
        operation_id="job_feedback_destroy",
        tags=TAGS,
        parameters=[JOB_ID],
        responses={204: None, **error_responses(400, 401, 404)},
    )
    def delete(self, request: Request, job_id) -> Response:
        feedback_services.feedback_delete(feedback=_feedback_of(request, job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedbackFilterSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices, required=False)


class FeedbackListApi(APIView):
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(
        operation_id="feedback_list",
        tags=TAGS,
        summary="Your feedback, newest first (for listing and export)",
        parameters=[OpenApiParameter("rating", OpenApiTypes.STR, enum=["up", "down"], description="Only this rating.")],
        responses={200: FeedbackOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        filters = FeedbackFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        feedback = feedback_selectors.feedback_list(user=request.user, rating=filters.validated_data.get("rating"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(feedback, request, view=self)
        return paginator.get_paginated_response(FeedbackOutputSerializer(page, many=True).data)

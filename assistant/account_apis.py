"""`GET /api/v1/me/export/` (all your data as JSON) and `DELETE /api/v1/me/` (delete your account and all of it)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.account_services import account_delete
from assistant.feedback_apis import FeedbackOutputSerializer
from assistant.models import Conversation, Feedback, GenerationJob, Message
from assistant.serializers import JobSerializer
from core.openapi import error_responses
from preferences.apis import PrincipleOutputSerializer, PrincipleVersionOutputSerializer
from preferences.models import Principle, PrincipleVersion, Suggestion
from preferences.steering_selectors import steering_summary
from preferences.suggestion_apis import SuggestionOutputSerializer

TAGS = ["account"]
# Rows read per query (and per prefetch's IN list) while exporting: a bound statement holds 65,535 parameters.
EXPORT_CHUNK_ROWS = 2000


def account_export(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Everything stored about the user, as JSON-able data (credentials excepted: tokens, password, secrets)."""
    principles = (
        Principle.objects.filter(owner=user)
        .prefetch_related(
            Prefetch("versions", queryset=PrincipleVersion.objects.select_related("created_by").order_by("number"))
        )
        .order_by("position", "id")
        .iterator(chunk_size=EXPORT_CHUNK_ROWS)
    )
    conversations = (
        Conversation.objects.filter(owner=user)
        .prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("position")))
        .order_by("created_at")
        .iterator(chunk_size=EXPORT_CHUNK_ROWS)
    )
    jobs = GenerationJob.objects.filter(owner=user).select_related("reply").order_by("created_at")
    return {
        "exported_at": timezone.now().isoformat(),
        "user": {
            "id": user.pk,
            "username": user.get_username(),
            "email": getattr(user, "email", ""),
            "date_joined": user.date_joined.isoformat(),
        },
        "principles": [
            {
                **PrincipleOutputSerializer(principle).data,
                "versions": PrincipleVersionOutputSerializer(principle.versions.all(), many=True).data,
            }
            for principle in principles
        ],
        "conversations": [
            {
                "id": str(conversation.pk),
                "title": conversation.title,
                "created_at": conversation.created_at.isoformat(),
                "messages": [
                    {
                        "id": message.pk,
                        "role": message.role,
                        "content": message.content,
                        "position": message.position,
                        "created_at": message.created_at.isoformat(),
                    }
                    for message in conversation.messages.all()
                ],
            }
            for conversation in conversations
        ],
        "jobs": JobSerializer(jobs, many=True).data,
        "feedback": FeedbackOutputSerializer(
            Feedback.objects.filter(owner=user).order_by("created_at"), many=True
        ).data,
        "suggestions": SuggestionOutputSerializer(
            Suggestion.objects.filter(owner=user).order_by("created_at"), many=True
        ).data,
        "steering": steering_summary(user=user),
    }


class AccountExportApi(APIView):
    @extend_schema(
        operation_id="me_export",
        tags=TAGS,
        summary="Export all your data",
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Your user record, principles with their history, "
                "conversations, jobs, feedback, suggestions and steering state.",
            ),
            **error_responses(401),
        },
    )
    def get(self, request: Request) -> Response:
        response = Response(account_export(user=request.user))
        add_never_cache_headers(response)
        return response


class AccountApi(APIView):
    @extend_schema(
        operation_id="me_destroy",
        tags=TAGS,
        summary="Delete your account and all its data",
        responses={204: None, **error_responses(401)},
    )
    def delete(self, request: Request) -> Response:
        account_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

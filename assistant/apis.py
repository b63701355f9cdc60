"""Conversation, message and job endpoints: one thin view per action; the work is in services/selectors."""

import json
import re
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment_engine.config import ENDING_BOUNDS, GUARD_BOUNDS, MAX_DRY_BREAKER_LENGTH, MAX_DRY_SEQUENCE_BREAKERS
from assistant import selectors, services
from assistant.generation_contract import ENGINE_BOUNDS
from assistant.models import Conversation, GenerationJob, Message
from assistant.renderers import EventStreamRenderer
from assistant.serializers import ConversationSerializer, JobSerializer, MessageSerializer, job_output_json
from assistant.streaming import job_event_stream
from assistant.throttles import GenerationThrottle
from core.db import connection_release
from core.exceptions import ApplicationError, ResourceNotFound
from core.openapi import ErrorSerializer, error_responses
from core.rendered_json import rendered_json_response
from core.row_memo import RowMemo
from core.strict_input import (
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictInputSerializer,
    StrictIntegerField,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Retrying with the same key and body returns the same job; a different body gets 422.",
)
# `true`/`false` (any case), empty (no wait) or seconds: what wait_seconds_from accepts, and nothing else.
WAIT_PATTERN = r"^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[0-9]{1,6}(\.[0-9]{1,6})?)?$"
WAIT_PARAMETERS = [
    OpenApiParameter(
        "wait",
        {"type": "string", "pattern": WAIT_PATTERN},
        OpenApiParameter.QUERY,
        required=False,
        description="`true` (wait up to the default), `false`, or seconds to wait for the reply.",
    ),
    OpenApiParameter(
        "Prefer",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=False,
        description="`wait=N` (RFC 7240): wait up to N seconds for the reply.",
    ),
]


SSE_EVENTS = """Server-Sent Events (`text/event-stream`), from the start of the job (a late client gets what it
missed) or after `Last-Event-ID`:

- `retry: 2000` first;
- `event: delta`, `id: <event id>`, `data: {"text": "..."}` per text piece;
- `event: restart`, `id: <event id>`, `data: {"attempt": N}` when a retry starts over (drop the text so far);
- `: keepalive` comments while nothing happens;
- `event: done`, `data: {"job": {...}}` last: the job as `GET /api/v1/jobs/{id}/` returns it (reply included), or
  `{"job": null}` when it was deleted. The stream then ends."""


def idempotency_key_from(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 255:
        raise ApplicationError(
            "Idempotency-Key is too long.",
            code="validation_error",
            fields={"Idempotency-Key": ["At most 255 characters."]},
        )
    return key


def wait_seconds_from(request: Request) -> float:
    """Seconds the client is willing to wait (0: answer at once), from `?wait=` or `Prefer: wait=N`."""
    query = request.META.get("QUERY_STRING", "")
    fields_limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if (
        "wait" not in query
        and "%" not in query
        and "HTTP_PREFER" not in request.META
        and (fields_limit is None or query.count("&") < fields_limit)  # over it, parsing answers a 400
    ):
        return 0  # neither asked for (a poll's usual case), without parsing the query string
    requested: float | None = None
    raw = request.query_params.get("wait")
    if raw is not None:
        if not re.fullmatch(WAIT_PATTERN, raw):
            raise ApplicationError(
                "wait must be true, false or a number of seconds.",
                code="validation_error",
                fields={"wait": ["Expected true, false or seconds."]},
            )
        if raw.lower() == "true":
            requested = settings.GENERATION_WAIT_DEFAULT_SECONDS
        else:
            requested = 0 if raw.lower() in ("false", "") else float(raw)
    match = re.search(r"(?:^|[,;\s])wait=(\d+)", request.headers.get("Prefer", ""))
    if match and requested is None:
        requested = float(match.group(1))
    return min(requested or 0, settings.GENERATION_WAIT_MAX_SECONDS)


def job_response(request: Request, job, *, waited: bool = False) -> Response:
    """200 with the finished job, else 202; `Location` always points at the job."""
    response = Response(
        JobSerializer(job).data,
        status=status.HTTP_200_OK if job.is_finished else status.HTTP_202_ACCEPTED,
    )
    response["Location"] = request.build_absolute_uri(reverse("job-detail", args=[job.pk]))
    if waited:
        response["Preference-Applied"] = "wait"
    return response


class GenerationSettingsSerializer(StrictInputSerializer):
    """Decoding settings; omitted fields take the engine defaults (alpha and max_new_tokens: settings)."""

    alpha = StrictFloatField(required=False, **ENGINE_BOUNDS["alpha"])
    temperature = StrictFloatField(required=False, **ENGINE_BOUNDS["temperature"])
    top_p = StrictFloatField(required=False, **ENGINE_BOUNDS["top_p"])
    max_new_tokens = StrictIntegerField(required=False, min_value=1, max_value=settings.GENERATION_MAX_TOKENS)
    do_sample = StrictBooleanField(required=False)
    seed = StrictIntegerField(required=False, **ENGINE_BOUNDS["seed"])
    stop = serializers.ListField(child=StrictCharField(max_length=100), required=False, max_length=8)
    repetition_penalty = StrictFloatField(required=False, **ENGINE_BOUNDS["repetition_penalty"])
    no_repeat_ngram_size = StrictIntegerField(required=False, min_value=0)
    # The repetition guard (docs/engine.md): OpenAI's presence/frequency penalties and DRY (on by default).
    presence_penalty = StrictFloatField(required=False, **GUARD_BOUNDS["presence_penalty"])
    frequency_penalty = StrictFloatField(required=False, **GUARD_BOUNDS["frequency_penalty"])
    dry_multiplier = StrictFloatField(required=False, **GUARD_BOUNDS["dry_multiplier"])
    dry_base = StrictFloatField(required=False, **GUARD_BOUNDS["dry_base"])
    dry_allowed_length = StrictIntegerField(required=False, **GUARD_BOUNDS["dry_allowed_length"])
    dry_penalty_last_n = StrictIntegerField(required=False, **GUARD_BOUNDS["dry_penalty_last_n"])
    dry_sequence_breakers = serializers.ListField(
        child=StrictCharField(max_length=MAX_DRY_BREAKER_LENGTH, trim_whitespace=False),
        required=False,
        max_length=MAX_DRY_SEQUENCE_BREAKERS,
    )
    # Ending before the token budget (docs/engine.md, "Replies that end"): 0 switches the bonus off.
    end_bonus = StrictFloatField(required=False, **ENDING_BOUNDS["end_bonus"])
    end_bonus_start = StrictFloatField(required=False, **ENDING_BOUNDS["end_bonus_start"])


class ConversationListCreateApi(generics.GenericAPIView):
    @extend_schema_serializer(component_name="ConversationCreateInput")
    class InputSerializer(StrictInputSerializer):
        title = StrictCharField(required=False, allow_blank=True, max_length=200)

    serializer_class = ConversationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Conversation.objects.none()
        return selectors.conversation_list(user=self.request.user)

    @extend_schema(
        operation_id="conversations_list", responses={200: ConversationSerializer(many=True), **error_responses(401)}
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(
        operation_id="conversations_create",
        request=InputSerializer,
        responses={201: ConversationSerializer, **error_responses(400, 401)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_create(user=request.user, **data.validated_data)
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailApi(APIView):
    @extend_schema_serializer(component_name="ConversationDetail")
    class OutputSerializer(ConversationSerializer):
        messages = MessageSerializer(many=True)

        class Meta(ConversationSerializer.Meta):
            fields = [*ConversationSerializer.Meta.fields, "messages"]

    def _conversation(self, request: Request, conversation_id):
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        if conversation is None:
            raise ResourceNotFound("Conversation not found.")
        return conversation

    @extend_schema(
        operation_id="conversations_retrieve", responses={200: OutputSerializer, **error_responses(401, 404)}
    )
    def get(self, request: Request, conversation_id) -> Response:
        return Response(self.OutputSerializer(self._conversation(request, conversation_id)).data)

    @extend_schema(operation_id="conversations_destroy", responses={204: None, **error_responses(401, 404)})
    def delete(self, request: Request, conversation_id) -> Response:
        services.conversation_delete(conversation=self._conversation(request, conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListCreateApi(generics.GenericAPIView):
    @extend_schema_serializer(component_name="MessageCreateInput")
    class InputSerializer(StrictInputSerializer):
        content = StrictCharField(help_text="The user's message.")
        settings = GenerationSettingsSerializer(required=False)
        callback_url = StrictCharField(
            required=False, allow_blank=True, max_length=2000, help_text="Receives a signed POST when the job ends."
        )

    serializer_class = MessageSerializer
    queryset = Message.objects.none()
    throttle_classes = [GenerationThrottle]
    throttle_scope = "generation"

    def _conversation(self, conversation_id):
        conversation = selectors.conversation_get(user=self.request.user, conversation_id=conversation_id)
        if conversation is None:
            raise ResourceNotFound("Conversation not found.")
        return conversation

    @extend_schema(
        operation_id="conversations_messages_list",
        responses={200: MessageSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, conversation_id) -> Response:
        messages = selectors.message_list(conversation=self._conversation(conversation_id))
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        operation_id="conversations_messages_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER, *WAIT_PARAMETERS],
        responses={
            200: OpenApiResponse(JobSerializer, description="The job finished (reply included)."),
            202: OpenApiResponse(JobSerializer, description="Accepted; poll `Location` or stream it."),
            409: OpenApiResponse(ErrorSerializer, description="A reply is already in progress in the conversation."),
            413: OpenApiResponse(ErrorSerializer, description="Message or conversation over the size limits."),
            422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused with a different request."),
            **error_responses(400, 401, 404, 429),
        },
    )
    def post(self, request: Request, conversation_id) -> Response:
        wait = wait_seconds_from(request)
        key = idempotency_key_from(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job, _created = services.message_submit(
            user=request.user,
            conversation_id=conversation_id,
            content=data.validated_data["content"],
            generation_settings=dict(data.validated_data.get("settings", {})),
            callback_url=data.validated_data.get("callback_url", ""),
            idempotency_key=key,
            fingerprint=services.request_fingerprint(target=f"conversation:{conversation_id}", body=request.data),
        )
        if wait > 0 and not job.is_finished:
            job = selectors.job_wait(job=job, timeout=wait)
        return job_response(request, job, waited=wait > 0)


@extend_schema_view(
    get=extend_schema(operation_id="jobs_list", responses={200: JobSerializer(many=True), **error_responses(401)})
)
class JobListApi(generics.ListAPIView):
    serializer_class = JobSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return GenerationJob.objects.none()
        return selectors.job_list(user=self.request.user)


# What a job poll answers, as the JSON bytes DRF's renderer writes (core.rendered_json), made once per distinct row
# a process reads under one active timezone (core.row_memo): a client polls the same row until the job moves. An
# entry's row text and body bytes together hold at most 8,192 (larger ones are not kept), so the memo holds at most
# about 2 million characters and bytes.
POLLED_JOBS: RowMemo[bytes] = RowMemo(max_entries=256, max_text=8192)


def _settings_changed(**kwargs) -> None:
    POLLED_JOBS.clear()  # a representation may read settings (DRF's formats, TIME_ZONE): tests override them


setting_changed.connect(_settings_changed, dispatch_uid="polled-jobs-settings-changed")


class JobDetailApi(APIView):
    @extend_schema(
        operation_id="jobs_retrieve",
        parameters=WAIT_PARAMETERS,
        responses={200: JobSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request: Request, job_id) -> Response:
        shown_json = selectors.job_shown(
            user=request.user,
            job_id=job_id,
            show=job_output_json,
            memo=POLLED_JOBS,
            context=timezone.get_current_timezone_name(),  # DRF writes datetimes in the active timezone
        )
        if shown_json is None:
            raise ResourceNotFound("Job not found.")
        wait = wait_seconds_from(request)
        if wait > 0 and json.loads(shown_json)["status"] not in GenerationJob.FINISHED_STATUSES:
            job = selectors.job_get(user=request.user, job_id=job_id)
            if job is None:  # deleted meanwhile
                raise ResourceNotFound("Job not found.")
            return Response(JobSerializer(selectors.job_wait(job=job, timeout=wait)).data)
        return rendered_json_response(request, shown_json)


class JobCancelApi(APIView):
    @extend_schema(
        operation_id="jobs_cancel",
        request=None,
        responses={
            200: OpenApiResponse(JobSerializer, description="Cancelled, or cancellation requested (running)."),
            409: OpenApiResponse(ErrorSerializer, description="The job already finished."),
            **error_responses(401, 404),
        },
    )
    def post(self, request: Request, job_id) -> Response:
        job = selectors.job_get(user=request.user, job_id=job_id)
        if job is None:
            raise ResourceNotFound("Job not found.")
        job = services.job_cancel(job=job)
        return Response(JobSerializer(selectors.job_get_any(job_id=job.pk)).data)


class JobStreamApi(APIView):
    renderer_classes = [EventStreamRenderer, JSONRenderer]

    @extend_schema(
        operation_id="jobs_stream",
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="Resume after this event id.",
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description=SSE_EVENTS),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request: Request, job_id) -> Any:
        job = selectors.job_get(user=request.user, job_id=job_id)
        if job is None:
            raise ResourceNotFound("Job not found.")
        after = request.headers.get("Last-Event-ID", "").strip() or "0"
        if not re.fullmatch(r"\d+(-\d+)?", after):
            raise ApplicationError(
                "Last-Event-ID is not an event id of this stream.",
                code="validation_error",
                fields={"Last-Event-ID": ["Not an event id."]},
            )
        return event_stream_response(job_event_stream(job_id=job.pk, after=after))


def event_stream_response(stream) -> StreamingHttpResponse:
    """The stream as SSE; the view's database connection goes back to the pool before the stream starts."""
    connection_release()
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response

"""`POST /chat/completions` in the OpenAI format (plain and streamed), on top of the same generation jobs.

The user's active principles apply unless the request's `principles` (an `extra_body` field of the official
client) replaces them; `alpha` overrides the steering strength. The job id is the completion id's suffix.
"""

from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alignment_engine.config import (
    ENDING_BOUNDS,
    ENDING_FIELDS,
    GUARD_BOUNDS,
    GUARD_FIELDS,
    MAX_DRY_BREAKER_LENGTH,
    MAX_DRY_SEQUENCE_BREAKERS,
)
from assistant import selectors, services
from assistant.apis import IDEMPOTENCY_HEADER, event_stream_response, idempotency_key_from
from assistant.authentication import BearerTokenAuthentication
from assistant.exceptions import GenerationFailed, GenerationTimeout
from assistant.generation_contract import ENGINE_BOUNDS
from assistant.models import GenerationJob
from assistant.renderers import EventStreamRenderer
from assistant.streaming import Delta, Finished, Keepalive, job_updates, sse
from assistant.throttles import GenerationThrottle
from core.authentication import TokenAuthentication
from core.exceptions import ApplicationError
from core.openapi import NO_NUL_PATTERN, NOT_BLANK_PATTERN, ErrorSerializer, error_responses
from core.strict_input import (
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictInputSerializer,
    StrictIntegerField,
)
from preferences.apis import RULE_SCHEMA, RulesField
from preferences.models import WEIGHT_DEFAULT, WEIGHT_HELP, WEIGHT_MAX, WEIGHT_MIN

FINISH_REASONS = {"eos": "stop", "stop": "stop", "length": "length", "cancelled": "stop"}
# Job error codes that mean the request itself was refused (the client can fix it): a 400, not a 502.
CLIENT_ERROR_CODES = frozenset({"invalid_request"})


class ChatMessageSerializer(StrictInputSerializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = StrictCharField(allow_blank=True, trim_whitespace=False)


class PrincipleOverrideSerializer(StrictInputSerializer):
    text = StrictCharField(max_length=2000)
    weight = StrictFloatField(
        required=False, default=WEIGHT_DEFAULT, min_value=WEIGHT_MIN, max_value=WEIGHT_MAX, help_text=WEIGHT_HELP
    )
    rules = RulesField(required=False, default=list)


PRINCIPLE_TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": NOT_BLANK_PATTERN}


@extend_schema_field(
    {
        "oneOf": [
            PRINCIPLE_TEXT_SCHEMA,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["text"],
                "properties": {
                    "text": PRINCIPLE_TEXT_SCHEMA,
                    "weight": {
                        "type": "number",
                        "minimum": WEIGHT_MIN,
                        "maximum": WEIGHT_MAX,
                        "default": WEIGHT_DEFAULT,
                    },
                    "rules": {
                        "type": "array",
                        "items": RULE_SCHEMA,
                        "description": "Rules kept exactly (JSON form: docs/engine.md); without them, rules are "
                        "recognised from the text.",
                    },
                },
            },
        ]
    }
)
class PrincipleOverrideField(serializers.Field):
    """A principle given with the request: its text, or `{"text": ..., "weight": ...}`."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        item = PrincipleOverrideSerializer(data={"text": data} if isinstance(data, str) else data)
        item.is_valid(raise_exception=True)
        return dict(item.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN},
            {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN},
            },
        ]
    }
)
class StopField(serializers.Field):
    def to_internal_value(self, data: Any) -> list[str]:
        values = [data] if isinstance(data, str) else data
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= 4
            or not all(isinstance(value, str) and value and "\x00" not in value for value in values)
        ):
            raise serializers.ValidationError("Expected a non-empty string (no NUL) or a list of 1 to 4 of them.")
        return values

    def to_representation(self, value: Any) -> Any:
        return value


class StreamOptionsSerializer(StrictInputSerializer):
    include_usage = StrictBooleanField(required=False, default=False)


def completion_id(job: GenerationJob) -> str:
    return f"chatcmpl-{job.pk.hex}"


def completion_body(job: GenerationJob, *, requested_model: str) -> dict[str, Any]:
    prompt_tokens, completion_tokens = job.prompt_tokens or 0, job.completion_tokens or 0
    reply = getattr(job, "reply", None)
    return {
        "id": completion_id(job),
        "object": "chat.completion",
        "created": int(job.created_at.timestamp()),
        "model": job.model_id or requested_model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content if reply else ""},
                "finish_reason": FINISH_REASONS.get(job.finish_reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "principled": {
            "job_id": str(job.pk),
            "alpha": job.alpha,
            "principle_versions": job.principle_versions,
            "backend": job.backend,
            "worker_id": job.worker_id,
            "latency_ms": job.latency_ms,
        },
    }


async def completion_chunks(*, job: GenerationJob, model: str, include_usage: bool) -> AsyncIterator[bytes]:
    base = {
        "id": completion_id(job),
        "object": "chat.completion.chunk",
        "created": int(job.created_at.timestamp()),
        "model": model,
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return sse(
            data={**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}
        )

    yield chunk({"role": "assistant", "content": ""})
    # A Restart (a retry after a worker failure) has no chunk form: it is skipped, and the stored reply (see
    # GET /jobs/{id}/) is the authority when a stream spanned two attempts.
    async for update in job_updates(job_id=job.pk):
        if isinstance(update, Delta):
            yield chunk({"content": update.text})
        elif isinstance(update, Keepalive):
            yield b": keepalive\n\n"
        elif isinstance(update, Finished):
            stored = update.job
            if stored is None or stored["status"] == GenerationJob.Status.FAILED:
                error = (stored or {}).get("error") or {"code": "not_found", "message": "The job was deleted."}
                yield sse(
                    data={"error": {"code": error["code"], "message": error["message"], "type": "generation_failed"}}
                )
                return
            yield chunk({}, FINISH_REASONS.get(stored["finish_reason"], "stop"))
            if include_usage:
                usage = stored["usage"]
                prompt, completion = usage["prompt_tokens"] or 0, usage["completion_tokens"] or 0
                yield sse(
                    data={
                        **base,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                        },
                    }
                )
    yield b"data: [DONE]\n\n"


def _extra_body(field_class: type[serializers.Field], bounds: dict[str, float], help_text: str) -> serializers.Field:
    """An optional, nullable engine setting of `extra_body` within the engine's bounds."""
    return field_class(required=False, allow_null=True, help_text=help_text, **bounds)


class ChatCompletionApi(APIView):
    @extend_schema_serializer(component_name="ChatCompletionInput")
    class InputSerializer(StrictInputSerializer):
        messages = ChatMessageSerializer(many=True, allow_empty=False, min_length=1)
        model = StrictCharField(required=False, allow_blank=True, max_length=200)
        max_tokens = StrictIntegerField(
            required=False, allow_null=True, min_value=1, max_value=settings.GENERATION_MAX_TOKENS
        )
        max_completion_tokens = StrictIntegerField(
            required=False, allow_null=True, min_value=1, max_value=settings.GENERATION_MAX_TOKENS
        )
        temperature = StrictFloatField(required=False, allow_null=True, min_value=0, max_value=2)
        top_p = StrictFloatField(required=False, allow_null=True, **ENGINE_BOUNDS["top_p"])
        seed = StrictIntegerField(required=False, allow_null=True, **ENGINE_BOUNDS["seed"])
        stop = StopField(required=False, allow_null=True)
        stream = StrictBooleanField(required=False, default=False)
        stream_options = StreamOptionsSerializer(required=False, allow_null=True)
        n = StrictIntegerField(required=False, min_value=1, max_value=1)
        user = StrictCharField(required=False, allow_blank=True, max_length=256)
        alpha = StrictFloatField(
            required=False,
            allow_null=True,
            **ENGINE_BOUNDS["alpha"],
            help_text="Steering strength (extra_body); default from settings.",
        )
        principles = serializers.ListField(
            child=PrincipleOverrideField(),
            required=False,
            allow_null=True,
            max_length=50,
            help_text="Principles for this request only (extra_body), replacing the user's active ones.",
        )
        presence_penalty = StrictFloatField(required=False, allow_null=True, **GUARD_BOUNDS["presence_penalty"])
        frequency_penalty = StrictFloatField(required=False, allow_null=True, **GUARD_BOUNDS["frequency_penalty"])
        dry_multiplier = _extra_body(
            StrictFloatField,
            GUARD_BOUNDS["dry_multiplier"],
            "DRY repetition guard strength (extra_body); 0 switches it off.",
        )
        dry_base = _extra_body(
            StrictFloatField,
            GUARD_BOUNDS["dry_base"],
            "DRY growth per repeated token (extra_body).",
        )
        dry_allowed_length = _extra_body(
            StrictIntegerField,
            GUARD_BOUNDS["dry_allowed_length"],
            "Longest repeat DRY lets pass (extra_body).",
        )
        dry_penalty_last_n = _extra_body(
            StrictIntegerField,
            GUARD_BOUNDS["dry_penalty_last_n"],
            "Tokens DRY looks back over (extra_body; -1: all).",
        )
        dry_sequence_breakers = serializers.ListField(
            child=StrictCharField(max_length=MAX_DRY_BREAKER_LENGTH, trim_whitespace=False),
            required=False,
            allow_null=True,
            max_length=MAX_DRY_SEQUENCE_BREAKERS,
            help_text="Strings no DRY repeat may cross (extra_body).",
        )
        end_bonus = _extra_body(
            StrictFloatField,
            ENDING_BOUNDS["end_bonus"],
            "End-of-turn bonus near the token budget, in logits (extra_body); 0 switches it off.",
        )
        end_bonus_start = _extra_body(
            StrictFloatField,
            ENDING_BOUNDS["end_bonus_start"],
            "Fraction of the token budget after which the end bonus grows (extra_body).",
        )

    authentication_classes = [TokenAuthentication, BearerTokenAuthentication, SessionAuthentication]
    throttle_classes = [GenerationThrottle]
    throttle_scope = "generation"
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="chat_completions_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A `chat.completion`, or with `stream: true` "
                "an event stream (`text/event-stream`): one `data: {chat.completion.chunk}` "
                "event per text piece (the first with `delta.role`, the last with "
                "`finish_reason`; with `stream_options.include_usage` one more with `usage` and "
                'no choices), `: keepalive` comments, `data: {"error": {...}}` when the job '
                "fails, then `data: [DONE]`.",
            ),
            413: OpenApiResponse(ErrorSerializer, description="Messages over the size limits."),
            422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused with a different request."),
            400: OpenApiResponse(
                ErrorSerializer,
                description="Invalid input, or the model refused the request "
                "(`invalid_request`: e.g. the prompt with the principles does not fit its window).",
            ),
            502: OpenApiResponse(ErrorSerializer, description="The generation failed on the server's side."),
            504: OpenApiResponse(ErrorSerializer, description="Not finished in time; the job goes on."),
            **error_responses(401, 429),
        },
    )
    def post(self, request: Request) -> Any:
        key = idempotency_key_from(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        messages = [dict(message) for message in values["messages"]]
        job, _created = services.completion_submit(
            user=request.user,
            messages=messages,
            generation_settings=self._settings(values),
            principle_overrides=values.get("principles"),
            idempotency_key=key,
            fingerprint=services.request_fingerprint(target="chat.completions", body=request.data),
        )
        model = values.get("model") or "principled"
        if values["stream"]:
            include_usage = bool((values.get("stream_options") or {}).get("include_usage"))
            return event_stream_response(completion_chunks(job=job, model=model, include_usage=include_usage))
        job = selectors.job_wait(job=job, timeout=settings.GENERATION_WAIT_MAX_SECONDS)
        if not job.is_finished:
            raise GenerationTimeout(f"The completion did not finish in time; job {job.pk} goes on.")
        if job.status == GenerationJob.Status.FAILED:
            if job.error_code in CLIENT_ERROR_CODES:
                # The engine refused the request itself (e.g. the prompt does not fit the model's window): the
                # client can fix it, so it is a 400 with the engine's reason, never a 502.
                raise ApplicationError(
                    job.error_message or "The model refused the request.",
                    code=job.error_code,
                    fields={"messages": [job.error_message or "Refused by the model."]},
                )
            raise GenerationFailed(job.error_message or "Generation failed.")
        return Response(completion_body(job, requested_model=model))

    @staticmethod
    def _settings(values: dict[str, Any]) -> dict[str, Any]:
        """Map OpenAI fields to GenerationConfig fields (temperature 0 means greedy decoding)."""
        mapped: dict[str, Any] = {}
        max_tokens = values.get("max_completion_tokens") or values.get("max_tokens")
        if max_tokens is not None:
            mapped["max_new_tokens"] = max_tokens
        temperature = values.get("temperature")
        if temperature is not None:
            mapped["do_sample"] = temperature > 0
            if temperature > 0:
                mapped["temperature"] = temperature
        for name in ("top_p", "seed", "alpha", "stop", *GUARD_FIELDS, *ENDING_FIELDS):
            if values.get(name) is not None:
                mapped[name] = values[name]
        return mapped

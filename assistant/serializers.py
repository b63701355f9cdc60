"""Output representations shared by several endpoints, the SSE final event and callbacks."""

import copy
from functools import cached_property
from typing import Any

from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from assistant.models import CallbackSigningSecret, Conversation, GenerationJob, Message
from core.rendered_json import render_json
from core.representation import CompiledRepresentation


# A ModelSerializer that builds its fields from the model once per class, not once per instance. DRF's
# ModelSerializer inspects the model (field kwargs, validators, choices) every time a serializer is made: for
# JobSerializer, 0.6 ms of the 0.8 ms it took to serialize one job. The fields depend on the class alone (its Meta
# and declared fields), so each instance gets a deep copy of the fields built the first time, as DRF itself does
# for declared fields (Serializer.get_fields).
# A serializer made only to represent an object (an instance, no data, no context) goes further and uses the
# bound fields of one template instance of its class: the deep copy was most of what remained (0.5 of 0.6 ms per
# job). Representing reads the fields' settings and nothing of their parent but its context, which is empty
# for both; a class with a SerializerMethodField (which calls its parent) never shares.
# (Comments, not a docstring: drf-spectacular would publish that as the description of every schema component
# made from a subclass.)
class ModelFieldsOnceSerializer(CompiledRepresentation, serializers.ModelSerializer):
    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        built = cls.__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            cls._fields_built_once = built
        return copy.deepcopy(built)

    @cached_property
    def fields(self) -> BindingDict:
        cls = type(self)
        representing_only = self.instance is not None and not hasattr(self, "initial_data") and not self._context
        if not representing_only or cls.__dict__.get("_fields_not_shared"):
            return super().fields
        shared = cls.__dict__.get("_shared_output_fields")
        if shared is None:
            shared = cls().fields
            if any(isinstance(field, serializers.SerializerMethodField) for field in shared.values()):
                cls._fields_not_shared = True
                return super().fields
            cls._shared_output_fields = shared
        return shared


class MessageSerializer(ModelFieldsOnceSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "content", "position", "created_at"]


class ConversationSerializer(ModelFieldsOnceSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "created_at", "updated_at"]


class ReplyOutputSerializer(CompiledRepresentation, serializers.Serializer):
    message_id = serializers.IntegerField(allow_null=True)
    content = serializers.CharField()
    created_at = serializers.DateTimeField()


class UsageSerializer(CompiledRepresentation, serializers.Serializer):
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)


class ErrorOutputSerializer(CompiledRepresentation, serializers.Serializer):
    code = serializers.CharField(source="error_code")
    message = serializers.CharField(source="error_message")


class PrincipleVersionUsedSerializer(CompiledRepresentation, serializers.Serializer):
    version_id = serializers.IntegerField(allow_null=True, help_text="Empty for per-request principles.")
    principle_id = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()
    weight = serializers.FloatField()
    rules = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        default=list,
        help_text="The rules decoding kept exactly for this principle ([]: steered by Linear Alignment only).",
    )


class NullIfBlankURLField(serializers.URLField):
    """A URL, or null where none was given (the column stores "")."""

    def to_representation(self, value: str) -> str | None:
        return value or None


class JobSerializer(ModelFieldsOnceSerializer):
    """A generation job with its outcome: the reply and the record of how it was generated."""

    model = serializers.CharField(source="model_id")
    principle_versions = PrincipleVersionUsedSerializer(many=True)
    usage = UsageSerializer(source="*")
    error = ErrorOutputSerializer(source="*", allow_null=True, help_text="Null unless the job failed.")
    callback_url = NullIfBlankURLField(allow_null=True, help_text="Null when the job has no callback.")
    reply = ReplyOutputSerializer(allow_null=True)
    user_message_id = serializers.IntegerField(allow_null=True)
    alpha = serializers.FloatField(read_only=True)

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "status",
            "conversation",
            "user_message_id",
            "cancel_requested",
            "attempts",
            "model",
            "backend",
            "alpha",
            "settings",
            "principle_versions",
            "usage",
            "finish_reason",
            "generation_seconds",
            "timings",
            "latency_ms",
            "worker_id",
            "error",
            "callback_url",
            "callback_status",
            "created_at",
            "started_at",
            "finished_at",
            "reply",
        ]
        read_only_fields = fields

    def to_representation(self, instance: GenerationJob) -> dict:
        data = super().to_representation(instance)
        if not instance.error_code:
            data["error"] = None
        return data


def job_output_json(job: GenerationJob) -> bytes:
    """A job's representation as the bytes DRF's JSON renderer writes for it (core.rendered_json): bytes cannot be
    changed by whoever reads them, so they can be shared, and their size is their length."""
    return render_json(JobSerializer(job).data)


class CallbackSecretSerializer(ModelFieldsOnceSerializer):
    class Meta:
        model = CallbackSigningSecret
        fields = ["secret", "rotated_at"]
        read_only_fields = fields
        extra_kwargs = {
            "secret": {"help_text": "64 hex characters: the HMAC-SHA256 key of your callbacks' signatures."},
            "rotated_at": {"help_text": "When this secret was created (first use or last rotation)."},
        }

"""Output serializers share one bound field set per class (assistant.serializers.ModelFieldsOnceSerializer): what
they return must be exactly what DRF's own per-instance fields give, for every object, in any order."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, GenerationJob, Message, Reply
from assistant.serializers import ConversationSerializer, JobSerializer, MessageSerializer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def per_instance_fields(serializer_class, instance) -> dict:
    # A context makes a serializer build its own fields (the path DRF always takes).
    return serializer_class(instance, context={"own fields": True}).data


def test_shared_fields_represent_each_object_as_its_own_fields_would():
    user = UserFactory(username="shared-fields")
    conversation = Conversation.objects.create(owner=user, title="Tea")
    questions = [
        Message.objects.create(conversation=conversation, role="user", content="Green tea?", position=position)
        for position in (0, 2, 4)
    ]

    def job(question: Message, **fields) -> GenerationJob:
        return GenerationJob.objects.create(
            owner=user,
            conversation=conversation,
            user_message=question,
            input_messages=[{"role": "user", "content": question.content}],
            **fields,
        )

    queued = job(questions[0], callback_url="https://example.com/hook")
    failed = job(
        questions[1], status=GenerationJob.Status.FAILED, error_code="invalid_request", error_message="Too long."
    )
    done = job(
        questions[2],
        status=GenerationJob.Status.SUCCEEDED,
        principle_versions=[{"version_id": 3, "principle_id": 2, "text": "Be brief.", "weight": 1.0, "rules": []}],
    )
    answer = Message.objects.create(conversation=conversation, role="assistant", content="Steep it.", position=5)
    Reply.objects.create(job=done, message=answer, content="Steep it.")
    jobs = [GenerationJob.objects.select_related("reply").get(pk=job.pk) for job in (queued, failed, done)]

    shared = [JobSerializer(job).data for job in jobs + jobs[::-1]]
    assert shared == [per_instance_fields(JobSerializer, job) for job in jobs + jobs[::-1]]
    assert [row["status"] for row in shared[:3]] == ["queued", "failed", "succeeded"]
    assert shared[0]["callback_url"] == "https://example.com/hook" and shared[2]["callback_url"] is None
    assert shared[1]["error"] == {"code": "invalid_request", "message": "Too long."} and shared[0]["error"] is None
    assert shared[2]["reply"]["content"] == "Steep it." and shared[0]["reply"] is None
    assert MessageSerializer(answer).data == per_instance_fields(MessageSerializer, answer)
    assert ConversationSerializer(conversation).data == per_instance_fields(ConversationSerializer, conversation)
    # A serializer given data validates with fields of its own.
    assert JobSerializer(jobs[0]).fields is JobSerializer(jobs[1]).fields
    assert ConversationSerializer(data={"title": "x"}).fields is not ConversationSerializer(conversation).fields

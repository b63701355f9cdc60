"""core.representation gives exactly DRF's own representation: for the service's output serializers on real rows,
and for each case it leaves to DRF (defaults, nulls, skipped fields, callables, sources of `*` and dotted paths,
values of another type than the field's)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from assistant.models import Conversation, GenerationJob, Message, Reply
from assistant.serializers import ConversationSerializer, JobSerializer, MessageSerializer
from core.representation import CompiledRepresentation
from tests.factories import UserFactory


def rendered(data) -> bytes:
    """As the API sends it: compared as JSON, `1` and `true` differ (as Python's 1 == True would not show)."""
    return JSONRenderer().render(data)


def drf_representation(monkeypatch, serializer) -> bytes:
    """The same serializer represented by DRF's own Serializer.to_representation, nested serializers included."""
    with monkeypatch.context() as patch:
        patch.setattr(CompiledRepresentation, "to_representation", serializers.Serializer.to_representation)
        return rendered(serializer.data)


@pytest.mark.django_db
def test_the_services_output_serializers_represent_rows_as_drf_does(monkeypatch):
    user = UserFactory(username="compiled")
    conversation = Conversation.objects.create(owner=user, title="Tea")
    question = Message.objects.create(conversation=conversation, role="user", content="Green tea?", position=0)
    answer = Message.objects.create(conversation=conversation, role="assistant", content="Steep it.", position=1)
    done = GenerationJob.objects.create(
        owner=user,
        conversation=conversation,
        user_message=question,
        input_messages=[{"role": "user", "content": question.content}],
        status=GenerationJob.Status.SUCCEEDED,
        principle_versions=[
            {"version_id": 3, "principle_id": 2, "text": "Be brief.", "weight": 1.0, "rules": [{"kind": "max_words"}]},
            {"version_id": None, "principle_id": None, "text": "Per request.", "weight": 2},  # no rules key
        ],
        prompt_tokens=12,
        completion_tokens=3,
        callback_url="https://example.com/hook",
        finished_at=datetime(2026, 12, 3, 7, 0, tzinfo=UTC),
    )
    Reply.objects.create(job=done, message=answer, content="Steep it.")
    failed = GenerationJob.objects.create(
        owner=user,
        conversation=conversation,
        input_messages=[],
        status=GenerationJob.Status.FAILED,
        error_code="invalid_request",
        error_message="Too long.",
    )
    jobs = list(GenerationJob.objects.select_related("reply").filter(pk__in=[done.pk, failed.pk]).order_by("status"))
    made = [
        lambda: JobSerializer(jobs, many=True),
        lambda: JobSerializer(jobs[0]),
        lambda: JobSerializer(jobs[1]),
        lambda: MessageSerializer([question, answer], many=True),
        lambda: ConversationSerializer(conversation),
    ]
    for make in made:
        assert rendered(make().data) == drf_representation(monkeypatch, make())
    assert JobSerializer(done).data["principle_versions"][1]["rules"] == []  # DRF's default for the missing key


class Price:
    currency = "EUR"

    def __init__(self, amount):
        self.amount = amount


class Item:
    def __init__(self, **values):
        self.__dict__.update(values)

    def shout(self):
        return str(self.name).upper()


class SummarySerializer(serializers.Serializer):
    name = serializers.CharField()


class ItemSerializer(CompiledRepresentation, serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()
    ratio = serializers.FloatField()
    active = serializers.BooleanField()
    note = serializers.CharField(required=False)  # missing: skipped
    label = serializers.CharField(default="none")  # missing: the default
    maybe = serializers.IntegerField(allow_null=True)  # missing: null
    loud = serializers.CharField(source="shout")  # a method: called
    currency = serializers.CharField(source="price.currency")  # a dotted path
    summary = SummarySerializer(source="*")  # the whole object
    price = serializers.SerializerMethodField()
    when = serializers.DateTimeField()

    def get_price(self, item):
        return (item["price"] if isinstance(item, dict) else item.price).amount


@pytest.mark.parametrize(
    "values",
    [
        {"name": "tea", "count": 3, "ratio": 0.5, "active": True},
        {"name": 7, "count": "4", "ratio": 2, "active": 1},  # values of another type: DRF's conversions
        {"name": "", "count": 0, "ratio": 0.0, "active": False, "note": None, "maybe": 5, "label": "set"},
        {"name": "x", "count": True, "ratio": 1.5, "active": "yes"},
    ],
)
def test_each_case_left_to_drf_comes_out_as_drfs(monkeypatch, values):
    item = Item(price=Price(9), when=datetime(2026, 12, 3, 7, 0, tzinfo=UTC), **values)
    compiled = rendered(ItemSerializer(item).data)
    assert compiled == drf_representation(monkeypatch, ItemSerializer(item))
    mapping = {key: value for key, value in item.__dict__.items()} | {"shout": "LOUD"}  # keys, not attributes
    assert rendered(ItemSerializer(mapping).data) == drf_representation(monkeypatch, ItemSerializer(mapping))

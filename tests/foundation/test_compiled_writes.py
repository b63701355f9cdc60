"""core.compiled_inserts and core.compiled_updates: a write compiled once stores what the ORM's own write stores,
with its signals and transaction handling, compiles nothing on later calls, and takes the ORM's path wherever
the shortcut cannot be taken."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Lower
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.compiler import SQLInsertCompiler, SQLUpdateCompiler
from django.test.utils import isolate_apps
from django.utils import timezone

from assistant import services
from assistant.models import Conversation, GenerationJob, Message
from core.compiled_inserts import CompiledInsert
from core.compiled_updates import CompiledUpdate
from tests.compiler_spy import compiles
from tests.factories import job_answering_hi

pytestmark = pytest.mark.django_db

POSTGRESQL_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite prepares UUIDs and datetimes into text: not compiled there"
)


def stored(model, pk, *, without=()) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    return {name: value for name, value in row.items() if name not in without}


def test_an_insert_stores_what_create_stores(alice):
    conversation = Conversation.objects.create(owner=alice)
    insert = CompiledInsert(Message)
    for position in range(3):  # the first call compiles, the later ones reuse
        values = {"conversation_id": conversation.pk, "role": "user", "content": f"50% off_\\ {position}"}
        compiled = insert.create(position=position, **values)
        reference = Message.objects.create(position=position + 10, **values)
        assert isinstance(compiled.pk, int) and compiled.pk != reference.pk  # the auto primary key came back
        assert compiled._state.adding is False and compiled._state.db == "default"
        assert compiled.created_at is not None  # auto_now_add, on the instance as save() leaves it
        assert stored(Message, compiled.pk) == {
            **stored(Message, reference.pk, without={"id", "position", "created_at"}),
            "id": compiled.pk,
            "position": position,
            "created_at": compiled.created_at,
        }


def test_an_insert_of_a_job_keeps_its_defaults_json_and_relations(alice):
    conversation = Conversation.objects.create(owner=alice)
    message = Message.objects.create(conversation=conversation, role="user", content="hi", position=0)
    insert = CompiledInsert(GenerationJob)
    values = {
        "owner": alice,
        "conversation_id": conversation.pk,
        "user_message": message,
        "input_messages": [{"role": "user", "content": "hi"}],
        "settings": {"alpha": 2.0, "top_p": 0.8},
        "principle_versions": [{"version_id": 1, "text": "Be brief.", "weight": 1.0, "rules": []}],
        "steering_arm": 2.0,
        "enqueued_at": timezone.now(),
    }
    job = insert.create(**values)
    assert isinstance(job.pk, uuid.UUID)
    reference = GenerationJob.objects.create(**{**values, "user_message": None})
    assert stored(GenerationJob, job.pk, without={"id", "created_at", "user_message_id"}) == stored(
        GenerationJob, reference.pk, without={"id", "created_at", "user_message_id"}
    )
    fetched = GenerationJob.objects.get(pk=job.pk)
    assert fetched.user_message_id == message.pk and fetched.status == GenerationJob.Status.QUEUED
    assert fetched.settings == {"alpha": 2.0, "top_p": 0.8} and fetched.created_at == job.created_at
    assert job.user_message is message  # the related instance stays cached, as Model.save leaves it


def test_an_insert_compiles_once(alice, monkeypatch):
    conversation = Conversation.objects.create(owner=alice)
    insert = CompiledInsert(Message)
    calls = compiles(monkeypatch, SQLInsertCompiler)
    for position in range(3):
        insert.create(conversation_id=conversation.pk, role="user", content="hi", position=position)
    assert len(calls) == 1
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_an_insert_sends_the_save_signals(alice):
    conversation = Conversation.objects.create(owner=alice)
    seen = []

    def before(sender, instance, raw, using, update_fields, **kwargs):
        seen.append(("pre", instance.pk is None, instance._state.adding, raw, using, update_fields))
        instance.content = instance.content.upper()  # a receiver's change is what gets stored, as with save()

    def after(sender, instance, created, raw, using, update_fields, **kwargs):
        seen.append(("post", instance.pk is not None, instance._state.adding, created, raw, using, update_fields))

    pre_save.connect(before, sender=Message)
    post_save.connect(after, sender=Message)
    try:
        message = CompiledInsert(Message).create(conversation_id=conversation.pk, role="user", content="hi", position=0)
    finally:
        pre_save.disconnect(before, sender=Message)
        post_save.disconnect(after, sender=Message)
    assert seen == [("pre", True, True, False, "default", None), ("post", True, False, True, False, "default", None)]
    assert Message.objects.get(pk=message.pk).content == "HI"


def test_an_expression_value_takes_the_orm_path(alice, monkeypatch):
    conversation = Conversation.objects.create(owner=alice)
    insert = CompiledInsert(Message)
    insert.create(conversation_id=conversation.pk, role="user", content="compiled", position=0)
    calls = compiles(monkeypatch, SQLInsertCompiler)
    message = insert.create(conversation_id=conversation.pk, role="user", content=Value("an expression"), position=1)
    assert len(calls) == 1  # Django compiled this one
    assert Message.objects.get(pk=message.pk).content == "an expression"
    assert message._state.adding is False


def test_an_unsaved_related_object_is_refused_as_save_refuses_it(alice):
    unsaved = Message(conversation=Conversation.objects.create(owner=alice), role="user", content="hi", position=0)
    for create in (GenerationJob.objects.create, CompiledInsert(GenerationJob).create):
        with pytest.raises(ValueError, match="unsaved related object"):
            create(owner=alice, user_message=unsaved, input_messages=[])
    assert not GenerationJob.objects.exists()


def test_a_failed_insert_marks_the_transaction_for_rollback(alice):
    conversation = Conversation.objects.create(owner=alice)
    insert = CompiledInsert(Message)
    insert.create(conversation_id=conversation.pk, role="user", content="first", position=0)
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            insert.create(conversation_id=conversation.pk, role="user", content="same position", position=0)
        assert transaction.get_connection().needs_rollback  # the block is rolled back as it ends
    assert list(Message.objects.filter(conversation=conversation).values_list("content", flat=True)) == ["first"]


def test_a_reverse_one_to_one_is_refused_as_create_refuses_it(alice):
    job = job_answering_hi(alice)
    for create in (Message.objects.create, CompiledInsert(Message).create):
        with pytest.raises(ValueError, match="do not exist in this model: job"):
            create(conversation_id=job.conversation_id, role="user", content="hi", position=5, job=job)


def test_an_insert_refuses_models_whose_sql_depends_on_the_values():
    with isolate_apps("assistant"):

        class ConversationProxy(Conversation):
            class Meta:
                proxy = True
                app_label = "assistant"

        class Blob(models.Model):  # noqa: DJ008 - never shown
            data = models.BinaryField()

            class Meta:
                app_label = "assistant"

        class Tagged(models.Model):  # noqa: DJ008 - never shown
            tag = models.CharField(max_length=10, db_default=Lower(Value("X")))

            class Meta:
                app_label = "assistant"

        for model in (ConversationProxy, Blob):
            with pytest.raises(TypeError):
                CompiledInsert(model)
        # A database default is SQL compiled from the prototype's value: never compiled, save() stores it.
        assert CompiledInsert(Tagged)._compile("default", pk_given=False) is None


def touch_of():
    return CompiledUpdate(
        lambda owner_id, conversation_id, first_line, now: (
            Conversation.objects.filter(owner_id=owner_id, pk=conversation_id),
            {"title": Case(When(title="", then=Value(first_line)), default=F("title")), "updated_at": now},
        ),
        owner_id=int,
        conversation_id=uuid.UUID,
        first_line=str,
        now=type(timezone.now()),
    )


def test_an_update_changes_and_counts_what_the_queryset_update_would(alice, bob):
    untitled = Conversation.objects.create(owner=alice)
    titled = Conversation.objects.create(owner=alice, title="kept")
    touch = touch_of()
    for round_ in range(2):  # the first call compiles, the second reuses
        now = timezone.now() + timedelta(minutes=round_)
        line = f"50% off_\\ {round_}"
        assert touch.update(owner_id=alice.pk, conversation_id=untitled.pk, first_line=line, now=now) == 1
        assert touch.update(owner_id=alice.pk, conversation_id=titled.pk, first_line=line, now=now) == 1
        assert touch.update(owner_id=bob.pk, conversation_id=titled.pk, first_line="bob", now=now) == 0
        assert touch.update(owner_id=alice.pk, conversation_id=uuid.uuid4(), first_line="x", now=now) == 0
        untitled.refresh_from_db()
        titled.refresh_from_db()
        assert untitled.title == "50% off_\\ 0"  # titled by the first touch only, verbatim
        assert titled.title == "kept"
        assert untitled.updated_at == titled.updated_at == now


@POSTGRESQL_ONLY
def test_an_update_compiles_once_and_the_submission_takes_it(alice, monkeypatch):
    conversation = Conversation.objects.create(owner=alice)
    touch = touch_of()
    calls = compiles(monkeypatch, SQLUpdateCompiler)
    for _ in range(3):
        touch.update(owner_id=alice.pk, conversation_id=conversation.pk, first_line="hi", now=timezone.now())
    assert len(calls) == 2  # two compiles with different markers, then none
    services._conversation_touch.update(
        owner_id=alice.pk, conversation_id=conversation.pk, first_line="hi", now=timezone.now()
    )
    assert services._conversation_touch._compiled[("default", "postgresql")] is not None


def test_a_value_of_another_type_takes_the_queryset_update(alice, monkeypatch):
    conversation = Conversation.objects.create(owner=alice)
    touch = touch_of()
    touch.update(owner_id=alice.pk, conversation_id=conversation.pk, first_line="hi", now=timezone.now())
    calls = compiles(monkeypatch, SQLUpdateCompiler)
    assert touch.update(owner_id=alice.pk, conversation_id=str(conversation.pk), first_line="x", now=timezone.now())
    assert len(calls) == 1


def test_a_failed_update_marks_the_transaction_for_rollback(alice):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite does not enforce a column's length")
    conversation = Conversation.objects.create(owner=alice)
    touch = touch_of()
    with transaction.atomic():
        with pytest.raises(DatabaseError):
            touch.update(owner_id=alice.pk, conversation_id=conversation.pk, first_line="x" * 201, now=timezone.now())
        assert transaction.get_connection().needs_rollback


def test_an_update_refuses_what_it_cannot_compile():
    across_a_relation = CompiledUpdate(
        lambda name: (Conversation.objects.filter(owner__username=name), {"title": "t"}), name=str
    )
    with pytest.raises(TypeError):
        across_a_relation.update(name="alice")
    ordered = CompiledUpdate(
        lambda owner_id: (Conversation.objects.filter(owner_id=owner_id).order_by("title"), {}), owner_id=int
    )
    with pytest.raises(TypeError):
        ordered.update(owner_id=1)
    with pytest.raises(TypeError):
        touch_of().update(owner_id=1)

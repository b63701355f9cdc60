"""factory_boy factories. Principles are built through the service so they always have version 1."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from assistant.models import Conversation, GenerationJob, Message, Reply
from preferences.models import Principle
from preferences.services import principle_create

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)


class PrincipleFactory(factory.Factory):
    """``PrincipleFactory(owner=alice, text=..., weight=..., active=...)`` -> a saved Principle with version 1."""

    class Meta:
        model = Principle

    owner = factory.SubFactory(UserFactory)
    text = factory.Sequence(lambda n: f"Principle number {n}: answer briefly.")
    title = ""
    weight = 1.0
    active = True
    position = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        return principle_create(**kwargs)

    @classmethod
    def _build(cls, model_class, **kwargs):
        return model_class(**kwargs)


def job_answering_hi(owner, *, reply: str | None = None, **fields) -> GenerationJob:
    """A job answering "Hi", the first message of a new conversation of `owner`; with `reply`, the assistant's
    message and the job's Reply holding it. `fields` are the job's other columns."""
    conversation = Conversation.objects.create(owner=owner, title="Hi")
    message = Message.objects.create(conversation=conversation, role="user", content="Hi", position=0)
    job = GenerationJob.objects.create(
        owner=owner,
        conversation=conversation,
        user_message=message,
        input_messages=[{"role": "user", "content": "Hi"}],
        **fields,
    )
    if reply is not None:
        answer = Message.objects.create(conversation=conversation, role="assistant", content=reply, position=1)
        Reply.objects.create(job=job, message=answer, content=reply)
    return job

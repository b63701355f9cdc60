"""factory_boy factories. Principles are built through the service so they always have version 1."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

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

"""Reads of principles, always scoped to one owner: another user's principle simply does not exist."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet

from core.compiled_queries import CompiledLookup
from preferences.models import Principle, PrincipleVersion


def principle_list(*, user: AbstractBaseUser, active: bool | None = None) -> QuerySet[Principle]:
    principles = Principle.objects.filter(owner=user)
    if active is not None:
        principles = principles.filter(active=active)
    return principles.order_by("position", "id")


def principle_get(*, user: AbstractBaseUser, principle_id: int) -> Principle | None:
    return Principle.objects.filter(owner=user, pk=principle_id).first()


def principle_version_list(*, principle: Principle) -> QuerySet[PrincipleVersion]:
    return PrincipleVersion.objects.filter(principle=principle).select_related("created_by").order_by("-number")


def principle_version_get(*, principle: Principle, number: int) -> PrincipleVersion | None:
    return principle_version_list(principle=principle).filter(number=number).first()


def principle_active_count(*, user: AbstractBaseUser) -> int:
    return Principle.objects.filter(owner=user, active=True).count()


def principle_versions_for_generation(*, user: AbstractBaseUser) -> list[PrincipleVersion]:
    """The current version of each of the user's active principles, in the user's order.

    Generation steers with these rows' text and weight and records their ids with the reply.
    """
    return _versions_for_generation.all(owner_id=user.pk)


# Read for every submission: compiled once (core.compiled_queries).
_versions_for_generation = CompiledLookup(
    lambda owner_id: PrincipleVersion.objects.filter(
        principle__owner_id=owner_id, principle__active=True, number=F("principle__version")
    ).order_by("principle__position", "principle_id"),
    owner_id=int,
)

"""Reads of a user's suggestions (always scoped to the owner)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from preferences.models import Suggestion


def suggestion_list(*, user: AbstractBaseUser, status: str | None = None) -> QuerySet[Suggestion]:
    suggestions = Suggestion.objects.filter(owner=user)
    if status:
        suggestions = suggestions.filter(status=status)
    return suggestions.order_by("-created_at", "-id")


def suggestion_get(*, user: AbstractBaseUser, suggestion_id: int) -> Suggestion | None:
    return Suggestion.objects.filter(owner=user, pk=suggestion_id).first()


def suggestion_evidence_keys(*, user_id: int, status: str) -> frozenset[str]:
    return frozenset(Suggestion.objects.filter(owner_id=user_id, status=status).values_list("evidence_key", flat=True))

"""Reads of a user's feedback (always scoped to the owner)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from assistant.models import Feedback


def feedback_list(*, user: AbstractBaseUser, rating: str | None = None) -> QuerySet[Feedback]:
    feedback = Feedback.objects.filter(owner=user).select_related("job")
    if rating:
        feedback = feedback.filter(rating=rating)
    return feedback.order_by("-created_at", "-id")


def feedback_of_job(*, user: AbstractBaseUser, job_id) -> Feedback | None:
    return Feedback.objects.filter(owner=user, job_id=job_id).first()

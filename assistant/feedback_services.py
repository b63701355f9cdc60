"""Writes of feedback on replies: capture, update, withdraw.

One feedback per reply, by the job's owner; it keeps the reply's provenance. After it commits, refinement of the
user's principles is queued (a Celery task on the light queue, in-process in the embedded mode), and a rating of
a reply whose alpha came from the user's learned steering strength teaches that arm.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from assistant import job_queue
from assistant.models import Feedback, GenerationJob, Reply
from core.exceptions import ApplicationError, Conflict
from preferences.steering_services import steering_rating_record

FIELDS = ("rating", "comment", "corrected_text", "tags")


def _require_content(values: dict[str, Any]) -> None:
    if not (values.get("rating") or values.get("comment") or values.get("corrected_text")):
        message = "Give at least one of rating, comment or corrected_text."
        raise ApplicationError(message, code="validation_error", fields={"non_field_errors": [message]})


def _after_commit(*, feedback: Feedback, previous_rating: str) -> None:
    owner_id, arm, rating = feedback.owner_id, feedback.steering_arm, feedback.rating

    def teach() -> None:
        if previous_rating != rating:
            steering_rating_record(user_id=owner_id, arm=arm, rating=previous_rating, step=-1)
            steering_rating_record(user_id=owner_id, arm=arm, rating=rating, step=1)
        job_queue.refinement_enqueue(user_id=owner_id)

    transaction.on_commit(teach)


@transaction.atomic
def feedback_create(*, job: GenerationJob, values: dict[str, Any]) -> Feedback:
    """Record the owner's feedback on the job's reply (409 when the job has no reply, or already has feedback)."""
    job = GenerationJob.objects.select_for_update().get(pk=job.pk)
    reply = Reply.objects.filter(job=job).first()
    if reply is None:
        raise Conflict("The job has no reply to give feedback on.", code="no_reply")
    if Feedback.objects.filter(job=job).exists():
        raise Conflict("This reply already has feedback; update it with PUT or PATCH.", code="feedback_exists")
    _require_content(values)
    try:
        with transaction.atomic():
            feedback = Feedback.objects.create(
                job=job,
                owner_id=job.owner_id,
                reply_text=reply.content,
                principle_versions=job.principle_versions,
                alpha=job.alpha,
                steering_arm=job.steering_arm,
                model_id=job.model_id,
                backend=job.backend,
                **{name: values[name] for name in FIELDS if name in values and values[name] is not None},
            )
    except IntegrityError:
        raise Conflict(
            "This reply already has feedback; update it with PUT or PATCH.", code="feedback_exists"
        ) from None
    _after_commit(feedback=feedback, previous_rating="")
    return feedback


@transaction.atomic
def feedback_update(*, feedback: Feedback, values: dict[str, Any], partial: bool) -> Feedback:
    """PUT replaces every field (omitted ones are cleared); PATCH changes the given ones. At least one of rating,
    comment or corrected_text must remain."""
    feedback = Feedback.objects.select_for_update().get(pk=feedback.pk)
    previous_rating = feedback.rating
    blank = {"rating": "", "comment": "", "corrected_text": "", "tags": []}
    current = {name: getattr(feedback, name) for name in FIELDS}
    merged = {**(current if partial else blank), **{k: (blank[k] if v is None else v) for k, v in values.items()}}
    _require_content(merged)
    for name in FIELDS:
        setattr(feedback, name, merged[name])
    feedback.save()
    _after_commit(feedback=feedback, previous_rating=previous_rating)
    return feedback


@transaction.atomic
def feedback_delete(*, feedback: Feedback) -> None:
    """Withdraw the feedback: its rating no longer counts for the steering strength. Suggestions already made
    from it stay (the user decides on them); refinement runs again without it."""
    owner_id, arm, rating = feedback.owner_id, feedback.steering_arm, feedback.rating
    feedback.delete()

    def forget() -> None:
        steering_rating_record(user_id=owner_id, arm=arm, rating=rating, step=-1)
        job_queue.refinement_enqueue(user_id=owner_id)

    transaction.on_commit(forget)

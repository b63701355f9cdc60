"""Reads of the chat domain, always scoped to one owner: another user's objects simply do not exist."""

import time
from collections.abc import Callable, Hashable
from typing import TypeVar
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from assistant import events
from assistant.models import Conversation, GenerationJob, Message
from core.compiled_queries import CompiledLookup
from core.db import connection_release
from core.row_memo import RowMemo
from core.running_requests import slot_given_up

T = TypeVar("T")


def _one_or_none(queryset: QuerySet):
    """The one row of a lookup by key, or None. Unlike `.first()`, adds no ORDER BY (nothing to order)."""
    return next(iter(queryset.order_by()[:1]), None)


def conversation_list(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user)


def conversation_get(*, user: AbstractBaseUser, conversation_id: UUID) -> Conversation | None:
    return _one_or_none(conversation_list(user=user).filter(pk=conversation_id))


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("position")


def job_list(*, user: AbstractBaseUser) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(owner=user).select_related("reply")


# The lookups a polling client repeats: compiled once (core.compiled_queries), since compiling the job's wide
# row with its reply cost more than running the query.
_job_of_owner = CompiledLookup(
    lambda owner_id, job_id: (
        GenerationJob.objects.select_related("reply").filter(owner_id=owner_id, pk=job_id).order_by()[:1]
    ),
    owner_id=int,
    job_id=UUID,
)
# The worker's own bookkeeping of a job, which no representation of it shows: a poll does not read it (the input
# messages hold the conversation's history, and the heartbeat changes every few seconds while a job runs).
JOB_COLUMNS_NOT_SHOWN = (
    "owner",
    "input_messages",
    "steering_arm",
    "claim_token",
    "idempotency_key",
    "request_fingerprint",
    "callback_attempts",
    "enqueued_at",
    "heartbeat_at",
)
_shown_job_of_owner = CompiledLookup(
    lambda owner_id, job_id: (
        GenerationJob.objects.select_related("reply")
        .defer(*JOB_COLUMNS_NOT_SHOWN)
        .filter(owner_id=owner_id, pk=job_id)
        .order_by()[:1]
    ),
    owner_id=int,
    job_id=UUID,
)
_job_by_id = CompiledLookup(
    lambda job_id: GenerationJob.objects.select_related("reply").filter(pk=job_id).order_by()[:1],
    job_id=UUID,
)


PENDING_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)

_pending_job_of_conversation = CompiledLookup(
    lambda conversation_id: (
        GenerationJob.objects.filter(conversation_id=conversation_id, status__in=PENDING_STATUSES)
        .order_by()
        .values_list("pk")[:1]
    ),
    conversation_id=UUID,
)
_history = CompiledLookup(
    lambda conversation_id: (
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("position")
        .values_list("role", "content", "position")
    ),
    conversation_id=UUID,
)


def conversation_has_pending_job(*, conversation_id: UUID) -> bool:
    """Whether a job of the conversation is queued or running (a conversation answers one message at a time)."""
    return _pending_job_of_conversation.first(conversation_id=conversation_id) is not None


def conversation_history(*, conversation_id: UUID) -> list[tuple[str, str, int]]:
    """(role, content, position) of each message, in order."""
    return _history.all(conversation_id=conversation_id)


def job_get(*, user: AbstractBaseUser, job_id: UUID) -> GenerationJob | None:
    return _job_of_owner.first(owner_id=user.pk, job_id=job_id)


def job_shown(
    *,
    user: AbstractBaseUser,
    job_id: UUID,
    show: Callable[[GenerationJob], T],
    memo: RowMemo[T],
    context: Hashable = None,
) -> T | None:
    """`show(job)` for the user's job (None: no such job of theirs), the columns in JOB_COLUMNS_NOT_SHOWN left
    unread. The row is read every time; `show` runs again only when the row changed since this process last read
    it under this `context` (`memo`, core.row_memo: `show` depends on the row and `context` alone, and what it
    returns is shared)."""
    return _shown_job_of_owner.first_derived(show, memo, context=context, owner_id=user.pk, job_id=job_id)


def job_get_any(*, job_id: UUID) -> GenerationJob | None:
    """For internal readers (streams, callbacks) that already checked ownership."""
    return _job_by_id.first(job_id=job_id)


def job_wait(*, job: GenerationJob, timeout: float) -> GenerationJob:
    """The job once it finished, or as it is after `timeout` seconds.

    Sleeps on the job's event log (woken by each delta and by the end event) and re-reads the row after each
    wake-up, at least once a second, so a missed end event only costs a second.
    """
    deadline = time.monotonic() + timeout
    log = events.job_events()
    after = events.START_ID
    while True:
        current = job_get_any(job_id=job.pk)
        remaining = deadline - time.monotonic()
        if current is None or current.is_finished or remaining <= 0:
            return current or job
        connection_release()  # no pooled connection, and no running request's slot, is held while sleeping
        with slot_given_up():
            batch = log.read(job.pk, after, block_ms=max(int(min(remaining, 1.0) * 1000), 1))
        if batch:
            after = batch[-1].id

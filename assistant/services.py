"""Writes of the chat domain made on behalf of API clients: conversations, submitting and cancelling jobs.

A job row is committed before its id is queued (transaction.on_commit), so a worker never receives an id
the database does not know, and a crash between the two leaves a queued row the sweep re-queues.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from assistant import events, job_queue
from assistant.callbacks import CallbackUrlRejected, callback_url_check
from assistant.generation_contract import generation_settings_resolve, messages_validate, principles_applied
from assistant.models import Conversation, GenerationJob, Message
from assistant.selectors import conversation_has_pending_job, conversation_history
from core.compiled_inserts import CompiledInsert
from core.compiled_updates import CompiledUpdate
from core.exceptions import ApplicationError, Conflict, IdempotencyKeyReused, PayloadTooLarge, ResourceNotFound
from preferences.rules import enforced_rules, rules_compatible_with
from preferences.selectors import principle_versions_for_generation
from preferences.steering_services import steering_alpha_choose


def request_fingerprint(*, target: str, body: Any) -> str:
    """A stable digest of what a request asks for, to tell a retry from a different request."""
    canonical = json.dumps({"target": target, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def conversation_create(*, user: AbstractBaseUser, title: str = "") -> Conversation:
    return Conversation.objects.create(owner=user, title=title)


@transaction.atomic
def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation with its messages and jobs (a worker running one of them stops decoding it)."""
    conversation.delete()


def principles_snapshot(*, user: AbstractBaseUser) -> list[dict[str, Any]]:
    """The user's active principle versions, as recorded on a job and sent to the engine, each with the rules
    decoding keeps for it (`enforced_as`: explicit, or recognised from the text)."""
    return principles_applied(
        {
            "version_id": version.id,
            "principle_id": version.principle_id,
            "text": version.text,
            "weight": float(version.weight),
            "rules": version.enforced_as,
        }
        for version in principle_versions_for_generation(user=user)
    )


def _callback_url_validate(callback_url: str) -> None:
    if not callback_url:
        return
    try:
        callback_url_check(callback_url)
    except CallbackUrlRejected as exc:
        raise ApplicationError(
            f"callback_url is not allowed: {exc}",
            code="validation_error",
            fields={"callback_url": [str(exc)]},
        ) from None


def _idempotent(
    *,
    user: AbstractBaseUser,
    idempotency_key: str,
    fingerprint: str,
    create: Callable[[], GenerationJob],
) -> tuple[GenerationJob, bool]:
    """Run `create` unless the key was used before; a reused key must come with the same request."""

    def existing() -> GenerationJob | None:
        job = GenerationJob.objects.filter(owner=user, idempotency_key=idempotency_key).first()
        if job is not None and job.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request.",
                fields={"Idempotency-Key": ["Already used with a different request body or target."]},
            )
        return job

    if idempotency_key:
        job = existing()
        if job is not None:
            return job, False
    try:
        return create(), True
    except IntegrityError:
        # A concurrent request with the same key won the unique constraint: answer with its job.
        job = existing() if idempotency_key else None
        if job is None:
            raise
        return job, False


def _rules_keepable(principle_versions: list[dict[str, Any]]) -> None:
    """A request whose principles' rules no reply could keep together is a 409 before anything is queued."""
    rules_compatible_with(
        rules=[rule for item in principle_versions for rule in item.get("rules", [])], others=[], field="principles"
    )


def _steered(*, user: AbstractBaseUser, requested: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """The request's settings with the user's steering strength when it gives no alpha, and the learned arm it
    came from (None: the request's own alpha, or a pinned one)."""
    if requested.get("alpha") is not None:
        return requested, None
    alpha, arm = steering_alpha_choose(user=user)
    return {**requested, "alpha": alpha}, arm


# The statements every submission writes, compiled once (core.compiled_inserts, core.compiled_updates): the
# conversation's UPDATE (found, locked, titled from its first message where it has no title, its activity
# recorded) and the message and job INSERTs.
_conversation_touch = CompiledUpdate(
    lambda owner_id, conversation_id, first_line, now: (
        Conversation.objects.filter(owner_id=owner_id, pk=conversation_id),
        {"title": Case(When(title="", then=Value(first_line)), default=F("title")), "updated_at": now},
    ),
    owner_id=int,
    conversation_id=UUID,
    first_line=str,
    now=datetime,
)
_message_insert = CompiledInsert(Message)
_job_insert = CompiledInsert(GenerationJob)


def _job_create(**fields: Any) -> GenerationJob:
    job = _job_insert.create(enqueued_at=timezone.now(), **fields)
    # A new job has no reply: cached as such (as select_related caches a missing one), so that serializing the
    # job right away costs no query.
    GenerationJob.reply.related.set_cached_value(job, None)
    transaction.on_commit(lambda: job_queue.job_enqueue(job_id=job.id))
    return job


def message_submit(
    *,
    user: AbstractBaseUser,
    conversation_id: UUID,
    content: str,
    generation_settings: dict[str, Any],
    callback_url: str = "",
    idempotency_key: str = "",
    fingerprint: str = "",
) -> tuple[GenerationJob, bool]:
    """Append a user message to the user's conversation and start the job that answers it; returns (job, created).
    Another user's conversation, or none, is ResourceNotFound."""

    @transaction.atomic
    def create() -> GenerationJob:
        # The UPDATE comes first: it finds the user's conversation, its row lock serializes the submissions to it (the
        # pending check and the next position below), and it records the activity (a title from the first message,
        # updated_at), all in one statement.
        first_line = content.strip().splitlines()[0][:80] if content.strip() else ""
        touched = _conversation_touch.update(
            owner_id=user.pk, conversation_id=conversation_id, first_line=first_line, now=timezone.now()
        )
        if not touched:
            raise ResourceNotFound("Conversation not found.")
        if conversation_has_pending_job(conversation_id=conversation_id):
            raise Conflict(
                "The conversation already has a reply in progress; wait for it or cancel it.", code="conversation_busy"
            )
        if len(content) > settings.GENERATION_MAX_MESSAGE_CHARS:
            raise PayloadTooLarge(
                f"The message is longer than {settings.GENERATION_MAX_MESSAGE_CHARS} characters.",
                code="message_too_large",
                fields={
                    "content": [
                        f"Ensure this field has no more than {settings.GENERATION_MAX_MESSAGE_CHARS} characters."
                    ]
                },
            )
        # The history is bounded by the limits checked here, so one read of it serves the checks and the prompt.
        history = conversation_history(conversation_id=conversation_id)
        if len(history) + 2 > settings.GENERATION_MAX_CONVERSATION_MESSAGES:
            raise PayloadTooLarge(
                f"The conversation has reached {settings.GENERATION_MAX_CONVERSATION_MESSAGES} messages; "
                "start a new one.",
                code="conversation_too_large",
            )
        if sum(len(text) for _, text, _ in history) + len(content) > settings.GENERATION_MAX_CONVERSATION_CHARS:
            raise PayloadTooLarge(
                f"The conversation would exceed {settings.GENERATION_MAX_CONVERSATION_CHARS} characters; "
                "start a new one.",
                code="conversation_too_large",
            )
        requested, steering_arm = _steered(user=user, requested=generation_settings)
        resolved = generation_settings_resolve(requested=requested)
        _callback_url_validate(callback_url)
        position = history[-1][2] + 1 if history else 0
        message = _message_insert.create(
            conversation_id=conversation_id,
            role=Message.Role.USER,
            content=content,
            position=position,
        )
        input_messages = [
            *({"role": role, "content": text} for role, text, _ in history),
            {"role": message.role, "content": message.content},
        ]
        principle_versions = principles_snapshot(user=user)
        _rules_keepable(principle_versions)
        return _job_create(
            owner=user,
            conversation_id=conversation_id,
            user_message=message,
            input_messages=input_messages,
            settings=resolved,
            steering_arm=steering_arm,
            principle_versions=principle_versions,
            callback_url=callback_url,
            callback_status=GenerationJob.CallbackStatus.PENDING if callback_url else "",
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
        )

    return _idempotent(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint, create=create)


def completion_submit(
    *,
    user: AbstractBaseUser,
    messages: list[dict[str, str]],
    generation_settings: dict[str, Any],
    principle_overrides: list[dict[str, Any]] | None = None,
    idempotency_key: str = "",
    fingerprint: str = "",
) -> tuple[GenerationJob, bool]:
    """Start a stateless (OpenAI-style) job on the given messages; principles default to the user's."""
    messages_validate(messages)
    total_chars = sum(len(message["content"]) for message in messages)
    if total_chars > settings.GENERATION_MAX_CONVERSATION_CHARS:
        raise PayloadTooLarge(
            f"The messages exceed {settings.GENERATION_MAX_CONVERSATION_CHARS} characters in total.",
            code="conversation_too_large",
            fields={"messages": ["Too long in total."]},
        )
    if len(messages) > settings.GENERATION_MAX_CONVERSATION_MESSAGES:
        raise PayloadTooLarge(
            f"More than {settings.GENERATION_MAX_CONVERSATION_MESSAGES} messages.",
            code="conversation_too_large",
            fields={"messages": ["Too many messages."]},
        )
    requested, steering_arm = _steered(user=user, requested=generation_settings)
    resolved = generation_settings_resolve(
        requested=requested,
        field_prefix="",
        field_aliases={"max_new_tokens": "max_tokens"},
    )

    @transaction.atomic
    def create() -> GenerationJob:
        if principle_overrides is None:
            principle_versions = principles_snapshot(user=user)
        else:
            principle_versions = principles_applied(
                {
                    "version_id": None,
                    "principle_id": None,
                    "text": item["text"],
                    "weight": item["weight"],
                    "rules": enforced_rules(text=item["text"], rules=item.get("rules"), rule_recognition=True),
                }
                for item in principle_overrides
            )
        _rules_keepable(principle_versions)
        return _job_create(
            owner=user,
            input_messages=messages,
            settings=resolved,
            steering_arm=steering_arm,
            principle_versions=principle_versions,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
        )

    return _idempotent(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint, create=create)


@transaction.atomic
def job_cancel(*, job: GenerationJob) -> GenerationJob:
    """Cancel a queued job at once; ask the worker running a job to stop (it records what it had)."""
    job = GenerationJob.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        raise Conflict(f"The job already finished ({job.status}).", code="job_finished")
    if job.status == GenerationJob.Status.QUEUED:
        now = timezone.now()
        job.status = GenerationJob.Status.CANCELLED
        job.finish_reason = "cancelled"
        job.finished_at = now
        job.latency_ms = int((now - job.created_at).total_seconds() * 1000)
        job.save(update_fields=["status", "finish_reason", "finished_at", "latency_ms"])
        job_finished_notify(job=job)
    else:
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
    return job


def job_finished_notify(*, job: GenerationJob) -> None:
    """After commit: close the job's event stream and send its callback (if it has one)."""
    job_id, status, has_callback = job.id, job.status, bool(job.callback_url)

    def notify() -> None:
        events.job_events().publish(job_id, events.END, {"status": status})
        if has_callback:
            job_queue.callback_enqueue(job_id=job_id)

    transaction.on_commit(notify)

"""Chat domain: conversations, their messages, generation jobs and the replies they produce.

PostgreSQL is the source of truth for jobs: a job row exists before its message is queued, workers claim it
with a conditional UPDATE, and its outcome is written here (the broker only carries job ids).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "id"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conversation_owner_recent")]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    position = models.PositiveIntegerField(help_text="Order of the message in its conversation, from 0.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "position"], name="message_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.role}#{self.position}"


class GenerationJob(models.Model):
    """One request for an aligned reply, with everything needed to run it and everything it produced."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    class CallbackStatus(models.TextChoices):
        NONE = ""
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_jobs")
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="jobs",
        help_text="Empty for stateless OpenAI-compatible completions.",
    )
    user_message = models.OneToOneField(
        Message,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="job",
    )
    # What the worker runs: a snapshot taken at submission, so a job is reproducible and self-contained.
    input_messages = models.JSONField(help_text="Messages passed to the engine: [{role, content}].")
    settings = models.JSONField(default=dict, help_text="GenerationConfig fields used (alpha included).")
    principle_versions = models.JSONField(
        default=list,
        help_text="Principle versions applied: [{version_id, principle_id, text, weight}].",
    )
    steering_arm = models.FloatField(
        null=True,
        blank=True,
        help_text="The arm of the user's learned steering strength this job's alpha came from (null: the request or "
        "a pinned alpha set it); the reply's rating teaches that arm.",
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed this job.")
    claim_token = models.UUIDField(null=True, blank=True, help_text="Set by the claim that owns the run.")
    worker_id = models.CharField(max_length=200, blank=True)

    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True)
    callback_status = models.CharField(max_length=16, choices=CallbackStatus.choices, blank=True, default="")
    callback_attempts = models.PositiveSmallIntegerField(default=0)

    model_id = models.CharField(max_length=300, blank=True)
    backend = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=16, blank=True)
    generation_seconds = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Submission to finish.")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="job_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "enqueued_at"], name="job_status_enqueued"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["owner", "-created_at"], name="job_owner_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def alpha(self) -> float:
        """The steering strength used, stored once, in `settings`."""
        return float(self.settings["alpha"])

    @alpha.setter
    def alpha(self, value: float) -> None:
        self.settings = {**self.settings, "alpha": float(value)}


class Reply(models.Model):
    """The assistant text a job produced; its generation record (model, alpha, tokens, ...) is the job."""

    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, related_name="reply")
    message = models.OneToOneField(
        Message,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reply",
        help_text="The assistant message in the conversation; empty for stateless completions.",
    )
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "replies"

    def __str__(self) -> str:
        return f"reply to {self.job_id}"


class CallbackSigningSecret(models.Model):
    """The key that signs one user's job callbacks (HMAC-SHA256). Each user has their own, so a receiver that
    holds it can trust that a signed callback came from this service for that user's jobs; rotating replaces it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="callback_signing_secret"
    )
    secret = models.CharField(max_length=64)
    rotated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"callback signing secret of user {self.user_id}"


class Feedback(models.Model):
    """What the user said about one reply: a rating, a comment, the text the reply should have been, tags.

    It keeps the reply's provenance (principle versions, alpha and its learned arm, model, backend) so it stays
    meaningful after the principles change."""

    class Rating(models.TextChoices):
        UP = "up", "up"
        DOWN = "down", "down"

    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, related_name="feedback")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=4, choices=Rating.choices, blank=True)
    comment = models.TextField(blank=True)
    corrected_text = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)

    reply_text = models.TextField(help_text="The reply as it was rated.")
    principle_versions = models.JSONField(default=list)
    alpha = models.FloatField()
    steering_arm = models.FloatField(null=True, blank=True)
    model_id = models.CharField(max_length=300, blank=True)
    backend = models.CharField(max_length=32, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="feedback_owner_recent")]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"feedback on {self.job_id} ({self.rating or 'no rating'})"

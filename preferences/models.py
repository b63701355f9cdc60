"""A user's free-text principles and their immutable version history.

``Principle`` holds the current state; every change to its text, title, weight or active flag appends a
``PrincipleVersion`` (numbered 1, 2, ...), so a generated reply can record exactly which versions it used.
Writes go through ``preferences.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual

from preferences.rules import enforced_rules, steered

TEXT_MAX_LENGTH = 2000
TITLE_MAX_LENGTH = 200
WEIGHT_MIN = 0.0
WEIGHT_MAX = 5.0
WEIGHT_DEFAULT = 1.0
# One meaning of a weight of 0 everywhere (principles, versions, per-request principles of the OpenAI endpoint).
WEIGHT_HELP = "0..5, default 1. 0 keeps the principle but never applies it to a reply (inactive)."
POSITION_MAX = 1_000_000


class Principle(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="principles")
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True, default="")
    text = models.TextField(validators=[MaxLengthValidator(TEXT_MAX_LENGTH)])
    weight = models.FloatField(
        default=WEIGHT_DEFAULT,
        validators=[MinValueValidator(WEIGHT_MIN), MaxValueValidator(WEIGHT_MAX)],
        help_text="Steering strength multiplier, 0..5.",
    )
    active = models.BooleanField(default=True)
    rules = models.JSONField(
        default=list, blank=True, help_text="Explicit rules decoding keeps exactly (JSON form: docs/engine.md)."
    )
    rule_recognition = models.BooleanField(
        default=True, help_text="Without explicit rules, read rules from the text (off: steered only)."
    )
    position = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(POSITION_MAX)], help_text="Ordering among the owner's principles."
    )
    version = models.PositiveIntegerField(default=0, editable=False, help_text="Number of the current version.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["owner", "active", "position"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weight__gte=WEIGHT_MIN, weight__lte=WEIGHT_MAX), name="principle_weight_range"
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("text"), 1) & LessThanOrEqual(Length("text"), TEXT_MAX_LENGTH),
                name="principle_text_length",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.text[:60]

    @property
    def enforced_as(self) -> list[dict]:
        """The rules decoding keeps for this principle ([]: steered by Linear Alignment only)."""
        return enforced_rules(text=self.text, rules=self.rules, rule_recognition=self.rule_recognition)

    @property
    def steered(self) -> bool:
        """Whether the text also steers by Linear Alignment (False: kept by its rules alone)."""
        return steered(text=self.text, enforced_as=self.enforced_as)

    @property
    def etag(self) -> str:
        """Changes on every write (versioned or not, e.g. a new position): the If-Match token."""
        return f'"{self.pk}-{self.version}-{int(self.updated_at.timestamp() * 1_000_000)}"'


class PrincipleVersion(models.Model):
    """One immutable snapshot of a principle; never updated or deleted by the application."""

    principle = models.ForeignKey(Principle, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True, default="")
    text = models.TextField()
    weight = models.FloatField()
    active = models.BooleanField()
    rules = models.JSONField(default=list, blank=True)
    rule_recognition = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suggestion = models.ForeignKey(
        "Suggestion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The accepted suggestion this version came from (empty: the user wrote it).",
    )

    class Meta:
        ordering = ["principle_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["principle", "number"], name="principle_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.principle_id} v{self.number}"

    @property
    def enforced_as(self) -> list[dict]:
        return enforced_rules(text=self.text, rules=self.rules, rule_recognition=self.rule_recognition)


class Suggestion(models.Model):
    """A change to the user's principles that their feedback supports, waiting for the user to accept or reject it.

    ``evidence_key`` names the evidence (kind, principle, measured check): a rejected key is never proposed again."""

    class Kind(models.TextChoices):
        NEW_PRINCIPLE = "new_principle", "new principle"
        EDIT_PRINCIPLE = "edit_principle", "edit principle"
        WEIGHT = "weight", "weight"
        DEACTIVATE = "deactivate", "deactivate"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        ACCEPTED = "accepted", "accepted"
        REJECTED = "rejected", "rejected"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suggestions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    principle = models.ForeignKey(
        Principle,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestions",
        help_text="The principle it changes (empty for a new principle).",
    )
    text = models.TextField(blank=True, help_text="The proposed principle text (new or edited principle).")
    weight = models.FloatField(null=True, blank=True, help_text="The proposed weight (weight suggestions).")
    rule = models.JSONField(null=True, blank=True, help_text="The checkable rule the text states, when it is one.")
    rationale = models.TextField(help_text="What was measured, in words.")
    feedback_ids = models.JSONField(default=list, help_text="The feedback it rests on.")
    evidence_key = models.CharField(max_length=255)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "status", "-created_at"], name="suggestion_owner_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "evidence_key"],
                condition=models.Q(status="pending"),
                name="suggestion_one_pending_per_evidence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.owner_id} ({self.status})"


class SteeringProfile(models.Model):
    """How a user's steering strength (alpha) is chosen when a request gives none: learned from their ratings
    (Thompson sampling over a small grid of arms), or pinned to one value."""

    class Mode(models.TextChoices):
        LEARNED = "learned", "learned"
        PINNED = "pinned", "pinned"

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="steering")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.LEARNED)
    pinned_alpha = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"steering of user {self.owner_id} ({self.mode})"


class SteeringArm(models.Model):
    """The ratings one alpha of the grid earned for one user (Beta posterior: 1 + ups, 1 + downs)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="steering_arms")
    alpha = models.FloatField()
    ups = models.PositiveIntegerField(default=0)
    downs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["owner_id", "alpha"]
        constraints = [models.UniqueConstraint(fields=["owner", "alpha"], name="steering_arm_unique")]

    def __str__(self) -> str:
        return f"arm {self.alpha:g} of user {self.owner_id}: {self.ups} up, {self.downs} down"

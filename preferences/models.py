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
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["principle_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["principle", "number"], name="principle_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.principle_id} v{self.number}"

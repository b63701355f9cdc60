"""Refinement: a user's feedback becomes suggestions for their principles.

Reads the user's feedback (with the replies as they were rated), their principles and the evidence keys already
pending or rejected, and asks the learner (`preferences.learning.evidence`, pure and model-free) what the
evidence supports; stores the drafts as pending suggestions. Safe to run any number of times.
"""

from __future__ import annotations

from django.conf import settings

from assistant.models import Feedback
from preferences.learning.evidence import ExistingPrinciple, FeedbackSample, LearningInput, Policy, suggest
from preferences.models import WEIGHT_MAX, Principle, PrincipleVersion, Suggestion
from preferences.suggestion_selectors import suggestion_evidence_keys
from preferences.suggestion_services import suggestions_store

# The most recent feedback the learner looks at: old evidence fades as the user's taste moves on.
FEEDBACK_WINDOW = 200


def _single_rule(rules: list[dict]) -> dict | None:
    """The learner reasons about one check per principle: its rule when it has exactly one."""
    return rules[0] if len(rules) == 1 else None


def preferences_refine(*, user_id: int) -> list[Suggestion]:
    feedback = list(Feedback.objects.filter(owner_id=user_id).order_by("-created_at", "-id")[:FEEDBACK_WINDOW])
    version_ids = {
        item["version_id"]
        for entry in feedback
        for item in entry.principle_versions
        if item.get("version_id") is not None
    }
    numbers = {
        pk: (principle_id, number)
        for pk, principle_id, number in PrincipleVersion.objects.filter(pk__in=version_ids).values_list(
            "pk", "principle_id", "number"
        )
    }
    samples = [
        FeedbackSample(
            feedback_id=entry.pk,
            reply=entry.reply_text,
            rating=entry.rating or None,
            corrected_text=entry.corrected_text or None,
            comment=entry.comment or None,
            principle_versions=dict(
                numbers[item["version_id"]] for item in entry.principle_versions if item.get("version_id") in numbers
            ),
        )
        for entry in feedback
    ]
    if not samples:
        return []
    principles = [
        ExistingPrinciple(
            principle_id=principle.pk,
            text=principle.text,
            weight=principle.weight,
            rule=_single_rule(principle.enforced_as),
            active=principle.active,
            version=principle.version,
        )
        for principle in Principle.objects.filter(owner_id=user_id).order_by("position", "id")
    ]
    pending = Suggestion.objects.filter(owner_id=user_id, status=Suggestion.Status.PENDING)
    drafts = suggest(
        LearningInput(
            feedback=samples,
            principles=principles,
            rejected_keys=suggestion_evidence_keys(user_id=user_id, status=Suggestion.Status.REJECTED),
            proposed_keys=suggestion_evidence_keys(user_id=user_id, status=Suggestion.Status.PENDING)
            | suggestion_evidence_keys(user_id=user_id, status=Suggestion.Status.ACCEPTED),
            pending_new_principles=pending.filter(kind=Suggestion.Kind.NEW_PRINCIPLE).count(),
            policy=Policy(max_active_principles=settings.MAX_ACTIVE_PRINCIPLES_PER_USER, weight_max=WEIGHT_MAX),
        )
    )
    return suggestions_store(user_id=user_id, drafts=drafts)

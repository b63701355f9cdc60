"""Refinement: a user's feedback becomes suggestions for their principles.

Reads the user's feedback (with the replies as they were rated), their principles and the evidence keys already
pending or rejected, and asks the learner (`preferences.learning.evidence`, pure and model-free) what the
evidence supports; stores the drafts as pending suggestions. Safe to run any number of times.
"""
from __future__ import annotations

from django.conf import settings

from assistant.models import Feedback
from preferences.learning.evidence import ExistingPrinciple, FeedbackSample, LearningInput, Policy, suggest
from preferences.models import WEIGHT_MAX, WEIGHT_MIN, Principle, Suggestion
from preferences.suggestion_selectors import suggestion_evidence_keys
from preferences.suggestion_services import suggestions_store

# The most recent feedback the learner looks at: old evidence fades as the user's taste moves on.
FEEDBACK_WINDOW = 200


def preferences_refine(*, user_id: int) -> list[Suggestion]:
    samples = [
        FeedbackSample(feedback_id=item.pk, reply=item.reply_text, rating=item.rating or None,
                       corrected_text=item.corrected_text or None, comment=item.comment or None)
        for item in Feedback.objects.filter(owner_id=user_id).order_by("-created_at", "-id")[:FEEDBACK_WINDOW]
    ]
    if not samples:
        return []
    principles = [
        ExistingPrinciple(principle_id=principle.pk, text=principle.text, weight=principle.weight,
                          active=principle.active)
        for principle in Principle.objects.filter(owner_id=user_id).order_by("position", "id")
    ]
    pending = Suggestion.objects.filter(owner_id=user_id, status=Suggestion.Status.PENDING)
    drafts = suggest(LearningInput(
        feedback=samples, principles=principles,
        rejected_keys=suggestion_evidence_keys(user_id=user_id, status=Suggestion.Status.REJECTED),
        proposed_keys=suggestion_evidence_keys(user_id=user_id, status=Suggestion.Status.PENDING)
        | suggestion_evidence_keys(user_id=user_id, status=Suggestion.Status.ACCEPTED),
        pending_new_principles=pending.filter(kind=Suggestion.Kind.NEW_PRINCIPLE).count(),
        policy=Policy(max_active_principles=settings.MAX_ACTIVE_PRINCIPLES_PER_USER, weight_min=WEIGHT_MIN,
                      weight_max=WEIGHT_MAX),
    ))
    return suggestions_store(user_id=user_id, drafts=drafts)

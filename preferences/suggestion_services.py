"""Writes of suggestions: storing what refinement proposes, and the user's accept or reject.

Accepting applies the suggestion through the principle services (so the version history, the active limit and
the rule checks hold as for any edit), and the new version records the suggestion as its source; the rule the
suggestion measured becomes the principle's explicit rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import Conflict
from preferences.learning.evidence import SuggestionDraft
from preferences.models import Principle, Suggestion
from preferences.services import principle_create, principle_deactivate, principle_update

Status = Suggestion.Status
Kind = Suggestion.Kind


@dataclass(frozen=True)
class SuggestionOutcome:
    suggestion: Suggestion
    principle: Principle | None


def suggestions_store(*, user_id: int, drafts: Iterable[SuggestionDraft]) -> list[Suggestion]:
    """Store the drafts as pending suggestions; a draft whose evidence is already pending or was rejected is
    skipped (the unique constraint settles a race between two refinements)."""
    stored = []
    for draft in drafts:
        if Suggestion.objects.filter(
            owner_id=user_id, evidence_key=draft.key, status__in=[Status.PENDING, Status.REJECTED]
        ).exists():
            continue
        try:
            with transaction.atomic():
                stored.append(
                    Suggestion.objects.create(
                        owner_id=user_id,
                        kind=draft.kind,
                        principle_id=draft.principle_id,
                        text=draft.text or "",
                        weight=draft.weight,
                        rule=draft.rule,
                        rationale=draft.rationale,
                        feedback_ids=list(draft.feedback_ids),
                        evidence_key=draft.key[:255],
                    )
                )
        except IntegrityError:
            continue
    return stored


def _lock_pending(suggestion: Suggestion) -> Suggestion:
    locked = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if locked.status != Status.PENDING:
        raise Conflict(f"The suggestion was already {locked.status}.", code="suggestion_decided")
    return locked


def _principle_of(suggestion: Suggestion) -> Principle:
    if suggestion.principle is None:
        raise Conflict("The principle this suggestion changes no longer exists.", code="suggestion_stale")
    return suggestion.principle


def _rules_of(suggestion: Suggestion) -> list[dict]:
    """The rule the suggestion measured becomes the principle's explicit rule (kept exactly, not guessed)."""
    return [suggestion.rule] if suggestion.rule else []


@transaction.atomic
def suggestion_accept(*, suggestion: Suggestion, actor: AbstractBaseUser) -> SuggestionOutcome:
    """Apply the suggestion: a new principle, or a new version of the one it touches (recording the suggestion)."""
    suggestion = _lock_pending(suggestion)
    owner = suggestion.owner
    if suggestion.kind == Kind.NEW_PRINCIPLE:
        principle = principle_create(
            owner=owner, text=suggestion.text, actor=actor, suggestion=suggestion, rules=_rules_of(suggestion)
        )
    elif suggestion.kind == Kind.EDIT_PRINCIPLE:
        principle = principle_update(
            principle=_principle_of(suggestion),
            actor=actor,
            text=suggestion.text,
            rules=_rules_of(suggestion),
            suggestion=suggestion,
        )
    elif suggestion.kind == Kind.WEIGHT:
        principle = principle_update(
            principle=_principle_of(suggestion), actor=actor, weight=suggestion.weight, suggestion=suggestion
        )
    else:
        principle = principle_deactivate(principle=_principle_of(suggestion), actor=actor, suggestion=suggestion)
    suggestion.status, suggestion.decided_at = Status.ACCEPTED, timezone.now()
    suggestion.save(update_fields=["status", "decided_at", "updated_at"])
    return SuggestionOutcome(suggestion=suggestion, principle=principle)


@transaction.atomic
def suggestion_reject(*, suggestion: Suggestion) -> Suggestion:
    """Record the refusal: the same evidence is never proposed again."""
    suggestion = _lock_pending(suggestion)
    suggestion.status, suggestion.decided_at = Status.REJECTED, timezone.now()
    suggestion.save(update_fields=["status", "decided_at", "updated_at"])
    return suggestion

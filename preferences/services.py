"""Writes to principles. Each change of text, title, weight or active appends an immutable version.

Every function runs in one transaction and locks what it reads before deciding: the owner row serialises
the per-user active-principle count, the principle row serialises edits and the If-Match check.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from core.exceptions import LimitExceeded, PreconditionFailed, ResourceNotFound
from preferences.budget import principle_budget_check
from preferences.models import POSITION_MAX, Principle, PrincipleVersion, Suggestion
from preferences.rules import rules_compatible_with

VERSIONED_FIELDS = ("text", "title", "weight", "active", "rules", "rule_recognition")


def _lock_owner(owner_id: int) -> None:
    get_user_model().objects.select_for_update().filter(pk=owner_id).first()


def _check_active_limit(*, owner_id: int) -> None:
    limit = settings.MAX_ACTIVE_PRINCIPLES_PER_USER
    if Principle.objects.filter(owner_id=owner_id, active=True).count() >= limit:
        raise LimitExceeded(
            f"You already have {limit} active principles, the limit; deactivate one first.",
            fields={"active": [f"At most {limit} active principles per user."]},
            code="active_principle_limit",
        )


def _check_if_match(*, principle: Principle, if_match: Sequence[str] | None) -> None:
    """``if_match``: the entity tags of the If-Match header (weak prefixes dropped); None when it was absent."""
    if if_match is None or "*" in if_match:
        return
    current = principle.etag
    if current not in if_match:
        raise PreconditionFailed(
            "The principle changed since you read it (If-Match does not match the current ETag); "
            "fetch it again and retry.",
            fields={"If-Match": [f"Current ETag is {current}."]},
        )


def _record_version(
    *, principle: Principle, actor: AbstractBaseUser | None, suggestion: Suggestion | None = None
) -> None:
    principle.version += 1
    principle.full_clean(exclude=["owner"])
    principle.save()
    PrincipleVersion.objects.create(
        principle=principle,
        number=principle.version,
        title=principle.title,
        text=principle.text,
        weight=principle.weight,
        active=principle.active,
        rules=principle.rules,
        rule_recognition=principle.rule_recognition,
        created_by=actor,
        suggestion=suggestion,
    )


def _check_applied(principle: Principle) -> None:
    """What an active principle must leave possible: rules keepable together, and room for a conversation."""
    _check_rules(principle)
    principle_budget_check(
        owner_id=principle.owner_id,
        text=principle.text,
        weight=principle.weight,
        active=principle.active,
        principle_id=principle.pk,
    )


def _check_rules(principle: Principle) -> None:
    """An active principle's enforced rules must be keepable together with the owner's other active ones."""
    if not principle.active:
        return
    others = Principle.objects.filter(owner_id=principle.owner_id, active=True).exclude(pk=principle.pk)
    rules_compatible_with(rules=principle.enforced_as, others=[(other.pk, other.enforced_as) for other in others])


def _lock_principle(principle: Principle) -> Principle:
    return Principle.objects.select_for_update().get(pk=principle.pk)


@transaction.atomic
def principle_create(
    *,
    owner: AbstractBaseUser,
    text: str,
    title: str = "",
    weight: float = 1.0,
    active: bool = True,
    position: int | None = None,
    actor: AbstractBaseUser | None = None,
    suggestion: Suggestion | None = None,
    rules: list[dict] | None = None,
    rule_recognition: bool = True,
) -> Principle:
    """Create a principle and its version 1. ``position`` None appends after the owner's last one;
    ``suggestion``: the accepted suggestion it comes from."""
    _lock_owner(owner.pk)
    if active:
        _check_active_limit(owner_id=owner.pk)
    if position is None:
        last = Principle.objects.filter(owner=owner).aggregate(last=Max("position"))["last"]
        position = 0 if last is None else last + 1
        if position > POSITION_MAX:
            raise LimitExceeded(
                f"Positions after the last principle are used up (at most {POSITION_MAX}); give a "
                "position, or move principles down first.",
                code="position_limit",
                fields={"position": [f"The next position would exceed {POSITION_MAX}."]},
            )
    principle = Principle(
        owner=owner,
        text=text.strip(),
        title=title.strip(),
        weight=weight,
        active=active,
        position=position,
        rules=list(rules or []),
        rule_recognition=rule_recognition,
    )
    _check_applied(principle)
    _record_version(principle=principle, actor=actor or owner, suggestion=suggestion)
    return principle


@transaction.atomic
def principle_update(
    *,
    principle: Principle,
    actor: AbstractBaseUser | None,
    text: str | None = None,
    title: str | None = None,
    weight: float | None = None,
    active: bool | None = None,
    position: int | None = None,
    if_match: Sequence[str] | None = None,
    suggestion: Suggestion | None = None,
    rules: list[dict] | None = None,
    rule_recognition: bool | None = None,
) -> Principle:
    """Apply the given changes (None = keep). A new version is recorded when a versioned field changed;
    a position-only change reorders without a new version; no change at all writes nothing."""
    if active or text is not None or weight is not None:
        _lock_owner(principle.owner_id)  # before the principle: the owner's totals (limit, budget) are checked
    principle = _lock_principle(principle)
    _check_if_match(principle=principle, if_match=if_match)

    changes: dict[str, object] = {}
    if text is not None:
        changes["text"] = text.strip()
    if title is not None:
        changes["title"] = title.strip()
    if weight is not None:
        changes["weight"] = weight
    if active is not None:
        changes["active"] = active
    if rules is not None:
        changes["rules"] = list(rules)
    if rule_recognition is not None:
        changes["rule_recognition"] = rule_recognition
    changed = {name: value for name, value in changes.items() if getattr(principle, name) != value}
    if changed.get("active") is True:
        _check_active_limit(owner_id=principle.owner_id)
    for name, value in changed.items():
        setattr(principle, name, value)

    if changed:
        _check_applied(principle)
        if position is not None:
            principle.position = position
        _record_version(principle=principle, actor=actor, suggestion=suggestion)
    elif position is not None and position != principle.position:
        principle.position = position
        principle.full_clean(exclude=["owner"])
        principle.save(update_fields=["position", "updated_at"])
    return principle


def principle_deactivate(
    *,
    principle: Principle,
    actor: AbstractBaseUser | None,
    if_match: Sequence[str] | None = None,
    suggestion: Suggestion | None = None,
) -> Principle:
    """Delete from the user's point of view: the principle stops steering replies; its history is kept."""
    return principle_update(principle=principle, actor=actor, active=False, if_match=if_match, suggestion=suggestion)


def principle_activate(
    *, principle: Principle, actor: AbstractBaseUser | None, if_match: Sequence[str] | None = None
) -> Principle:
    return principle_update(principle=principle, actor=actor, active=True, if_match=if_match)


@transaction.atomic
def principle_version_restore(
    *,
    principle: Principle,
    number: int,
    actor: AbstractBaseUser | None,
    if_match: Sequence[str] | None = None,
) -> Principle:
    """Copy text, title, weight and rules of version ``number`` into a new version; the active flag is kept."""
    _lock_owner(principle.owner_id)
    principle = _lock_principle(principle)
    _check_if_match(principle=principle, if_match=if_match)
    source = PrincipleVersion.objects.filter(principle=principle, number=number).first()
    if source is None:
        raise ResourceNotFound(f"Principle {principle.pk} has no version {number}.")
    principle.text, principle.title, principle.weight = source.text, source.title, source.weight
    principle.rules, principle.rule_recognition = source.rules, source.rule_recognition
    _check_applied(principle)
    _record_version(principle=principle, actor=actor)
    return principle

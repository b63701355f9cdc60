"""Writes of a user's steering strength: the alpha a request without one gets, ratings that teach it, pinning.

In learned mode the alpha is drawn by Thompson sampling over the grid (`preferences.learning.steering`). Until the
user has rated any learned reply, every arm's posterior is the same uniform prior, so the draw would be a coin toss
among very different strengths; instead the user gets the benchmarked default arm (`GENERATION_DEFAULT_ALPHA`,
which must be on the grid) and sampling starts with the first rating. The job records the arm; its rating
updates that arm; an explicit alpha in a request always wins and teaches nothing.
"""

from __future__ import annotations

import math
import random

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F

from core.exceptions import ApplicationError
from preferences.learning import steering as thompson
from preferences.models import SteeringArm, SteeringProfile
from preferences.steering_selectors import steering_grid, steering_read

_rng = random.SystemRandom()


def steering_profile_get(*, user: AbstractBaseUser) -> SteeringProfile:
    profile, _ = SteeringProfile.objects.get_or_create(owner=user)
    return profile


def steering_alpha_choose(*, user: AbstractBaseUser, rng: random.Random | None = None) -> tuple[float, float | None]:
    """(alpha, arm) for a request that gives no alpha: the pinned alpha (arm None), or a learned arm."""
    mode, pinned_alpha, state = steering_read(user=user)
    if mode == SteeringProfile.Mode.PINNED:
        return float(pinned_alpha), None
    if not any(arm["ups"] or arm["downs"] for arm in state["arms"]):
        default = float(settings.GENERATION_DEFAULT_ALPHA)
        arm = default if any(math.isclose(default, a) for a in steering_grid()) else None
        return default, arm
    arm = thompson.choose_alpha(state, rng or _rng)
    return arm, arm


def steering_rating_record(*, user_id: int, arm: float | None, rating: str, step: int = 1) -> None:
    """Count (step 1) or withdraw (step -1) a rating of a reply made with a learned arm; nothing when arm is None
    or no longer on the grid."""
    if arm is None or rating not in thompson.RATINGS or not any(math.isclose(arm, a) for a in steering_grid()):
        return
    field = "ups" if rating == "up" else "downs"
    with transaction.atomic():
        row, _ = SteeringArm.objects.get_or_create(owner_id=user_id, alpha=float(arm))
        if step < 0:
            SteeringArm.objects.filter(pk=row.pk, **{f"{field}__gte": -step}).update(**{field: F(field) + step})
        else:
            SteeringArm.objects.filter(pk=row.pk).update(**{field: F(field) + step})


@transaction.atomic
def steering_set(
    *, user: AbstractBaseUser, mode: str, alpha: float | None = None, alpha_given: bool | None = None
) -> SteeringProfile:
    """Pin an alpha (`mode="pinned"`) or return to learning (`mode="learned"`, no alpha, not even null:
    `alpha_given` says whether the client sent the field); the ratings are kept."""
    profile, _ = SteeringProfile.objects.select_for_update().get_or_create(owner=user)
    if mode == SteeringProfile.Mode.PINNED:
        if alpha is None:
            raise ApplicationError(
                "A pinned steering strength needs an alpha.",
                code="validation_error",
                fields={"alpha": ["Required when mode is pinned."]},
            )
        profile.mode, profile.pinned_alpha = mode, float(alpha)
    elif mode == SteeringProfile.Mode.LEARNED:
        if alpha is not None or alpha_given:
            raise ApplicationError(
                "A learned steering strength takes no alpha.",
                code="validation_error",
                fields={"alpha": ["Only with mode pinned."]},
            )
        profile.mode, profile.pinned_alpha = mode, None
    else:
        raise ApplicationError(
            f"Unknown mode {mode!r}.", code="validation_error", fields={"mode": ["Choose learned or pinned."]}
        )
    profile.save()
    return profile

"""Reads of a user's steering strength: the grid, the per-arm ratings as a learning state, the alpha in use."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from preferences.learning import steering as thompson
from preferences.models import SteeringArm, SteeringProfile


def steering_grid() -> tuple[float, ...]:
    return tuple(float(alpha) for alpha in settings.STEERING_ALPHA_GRID)


def steering_state(*, user: AbstractBaseUser) -> dict[str, Any]:
    """The learning state over the grid: {"arms": [{"alpha", "ups", "downs"}, ...]} (arms never rated count 0)."""
    counts = {row.alpha: row for row in SteeringArm.objects.filter(owner=user)}
    state = thompson.initial_state(steering_grid())
    for arm in state["arms"]:
        row = counts.get(arm["alpha"])
        if row is not None:
            arm["ups"], arm["downs"] = row.ups, row.downs
    return state


def steering_summary(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Mode, the alpha in use (pinned, or the learned arm with the best posterior mean so far) and the arms."""
    profile = SteeringProfile.objects.filter(owner=user).first()
    state = steering_state(user=user)
    rated = any(arm["ups"] or arm["downs"] for arm in state["arms"])
    if profile is not None and profile.mode == SteeringProfile.Mode.PINNED:
        mode, alpha = SteeringProfile.Mode.PINNED, float(profile.pinned_alpha)
    else:
        mode = SteeringProfile.Mode.LEARNED
        alpha = thompson.best_alpha(state) if rated else float(settings.GENERATION_DEFAULT_ALPHA)
    return {"mode": mode, "alpha": alpha, "arms": thompson.summary(state)}

"""Reads of a user's steering strength: the grid, the per-arm ratings as a learning state, the alpha in use."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from core.compiled_queries import CompiledLookup
from preferences.learning import steering as thompson
from preferences.models import SteeringProfile


def steering_grid() -> tuple[float, ...]:
    return tuple(float(alpha) for alpha in settings.STEERING_ALPHA_GRID)


class SteeringRead(NamedTuple):
    mode: str  # SteeringProfile.Mode (learned when the user has no profile yet)
    pinned_alpha: float | None
    state: dict[str, Any]  # {"arms": [{"alpha", "ups", "downs"}, ...]} over the grid (arms never rated count 0)


# Read for every submission: compiled once (core.compiled_queries).
_steering_rows = CompiledLookup(
    lambda user_id: (
        get_user_model()
        .objects.filter(pk=user_id)
        .order_by()
        .values_list(
            "steering__mode",
            "steering__pinned_alpha",
            "steering_arms__alpha",
            "steering_arms__ups",
            "steering_arms__downs",
        )
    ),
    user_id=int,
)


def steering_read(*, user: AbstractBaseUser) -> SteeringRead:
    """The user's steering profile and the learning state over the grid, in one query: the user's row joined
    to its profile and arms (each is optional), one row per arm. A submission reads this for every job."""
    rows = _steering_rows.all(user_id=user.pk)
    mode, pinned_alpha, counts = SteeringProfile.Mode.LEARNED, None, {}
    for row_mode, row_pinned, alpha, ups, downs in rows:
        mode, pinned_alpha = row_mode or SteeringProfile.Mode.LEARNED, row_pinned
        if alpha is not None:
            counts[alpha] = (ups, downs)
    state = thompson.initial_state(steering_grid())
    for arm in state["arms"]:
        arm["ups"], arm["downs"] = counts.get(arm["alpha"], (0, 0))
    return SteeringRead(mode, pinned_alpha, state)


def steering_summary(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Mode, the alpha in use (pinned, or the learned arm with the best posterior mean so far) and the arms."""
    mode, pinned_alpha, state = steering_read(user=user)
    rated = any(arm["ups"] or arm["downs"] for arm in state["arms"])
    if mode == SteeringProfile.Mode.PINNED:
        alpha = float(pinned_alpha)
    else:
        mode = SteeringProfile.Mode.LEARNED
        alpha = thompson.best_alpha(state) if rated else float(settings.GENERATION_DEFAULT_ALPHA)
    return {"mode": mode, "alpha": alpha, "arms": thompson.summary(state)}

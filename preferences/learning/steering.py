"""Per-user steering strength: Thompson sampling over a small grid of alphas with Beta posteriors.

Each arm of the grid (alpha = 0, 1, 2, 3, 5 by default) keeps the user's up and down ratings of replies made
with it; its posterior is Beta(1 + ups, 1 + downs). ``choose_alpha`` draws one sample per arm and plays the
largest, so arms that the user rates well are played more and the rest are still tried now and then. The state
is a JSON-able dict, stored as is; every function returns a new state and never changes the one it is given.
Randomness comes only from the ``random.Random`` passed in, so a seeded generator makes a run reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

ALPHA_GRID = (0.0, 1.0, 2.0, 3.0, 5.0)
RATINGS = ("up", "down")


class SteeringStateError(ValueError):
    """A stored state, an arm or a rating that does not fit; the message names what is wrong."""


def initial_state(grid: Sequence[float] = ALPHA_GRID) -> dict[str, Any]:
    alphas = [float(alpha) for alpha in grid]
    if not alphas or len(set(alphas)) != len(alphas) or any(not math.isfinite(a) or a < 0 for a in alphas):
        raise SteeringStateError("grid: give distinct, finite, non-negative alphas")
    return {"arms": [{"alpha": alpha, "ups": 0, "downs": 0} for alpha in alphas]}


def validate_state(state: Any) -> dict[str, Any]:
    """A clean copy of a stored state; ``SteeringStateError`` when it is not one."""
    if not isinstance(state, Mapping) or not isinstance(state.get("arms"), list) or not state["arms"]:
        raise SteeringStateError("arms: a non-empty list is required")
    arms = []
    for index, arm in enumerate(state["arms"]):
        if not isinstance(arm, Mapping):
            raise SteeringStateError(f"arms[{index}]: an object is required")
        alpha, ups, downs = arm.get("alpha"), arm.get("ups"), arm.get("downs")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
            raise SteeringStateError(f"arms[{index}].alpha: a finite, non-negative number is required")
        for name, count in (("ups", ups), ("downs", downs)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise SteeringStateError(f"arms[{index}].{name}: a non-negative integer is required")
        arms.append({"alpha": float(alpha), "ups": ups, "downs": downs})
    if len({arm["alpha"] for arm in arms}) != len(arms):
        raise SteeringStateError("arms: each alpha may appear once")
    return {"arms": arms}


def _arm_index(state: Mapping[str, Any], alpha: float) -> int:
    for index, arm in enumerate(state["arms"]):
        if math.isclose(arm["alpha"], float(alpha)):
            return index
    raise SteeringStateError(f"alpha: {alpha:g} is not an arm of the grid")


def choose_alpha(state: Mapping[str, Any], rng: random.Random) -> float:
    """The arm to play: the largest of one draw from each arm's Beta posterior (ties go to the first arm)."""
    draws = [rng.betavariate(1 + arm["ups"], 1 + arm["downs"]) for arm in state["arms"]]
    return state["arms"][max(range(len(draws)), key=draws.__getitem__)]["alpha"]


def _counted(state: Mapping[str, Any], arm: float, rating: str, step: int) -> dict[str, Any]:
    if rating not in RATINGS:
        raise SteeringStateError(f"rating: must be one of {', '.join(RATINGS)}")
    new_state = validate_state(state)
    chosen = new_state["arms"][_arm_index(new_state, arm)]
    field = "ups" if rating == "up" else "downs"
    if chosen[field] + step < 0:
        raise SteeringStateError(f"rating: arm {arm:g} has no {rating} rating to withdraw")
    chosen[field] += step
    return new_state


def update(state: Mapping[str, Any], arm: float, rating: str) -> dict[str, Any]:
    """The state after a rating (``"up"`` or ``"down"``) of a reply made with alpha ``arm``."""
    return _counted(state, arm, rating, 1)


def withdraw(state: Mapping[str, Any], arm: float, rating: str) -> dict[str, Any]:
    """The state without an earlier rating (a feedback deleted, or its rating changed)."""
    return _counted(state, arm, rating, -1)


def posterior_mean(arm: Mapping[str, Any]) -> float:
    return (1 + arm["ups"]) / (2 + arm["ups"] + arm["downs"])


def summary(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per arm: alpha, ups, downs and the posterior mean of an up rating."""
    return [{**arm, "posterior_mean": round(posterior_mean(arm), 4)} for arm in state["arms"]]


def best_alpha(state: Mapping[str, Any]) -> float:
    """The arm with the highest posterior mean (the first of equals): what the user likes best so far."""
    arms = state["arms"]
    return arms[max(range(len(arms)), key=lambda index: posterior_mean(arms[index]))]["alpha"]

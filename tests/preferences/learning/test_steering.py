"""Thompson sampling of the steering strength: state handling, and convergence on a scripted rater."""

from __future__ import annotations

import json
import random
import re

import pytest

from preferences.learning.steering import (
    ALPHA_GRID,
    SteeringStateError,
    best_alpha,
    choose_alpha,
    initial_state,
    summary,
    update,
    validate_state,
    withdraw,
)

RATINGS = 250  # the stated number of ratings within which the posterior concentrates on the rater's alpha


def scripted_up_probability(alpha: float, preferred: float) -> float:
    """The rater likes ``preferred`` best (0.8 up) and each grid step away 0.2 less."""
    distance = abs(ALPHA_GRID.index(alpha) - ALPHA_GRID.index(preferred))
    return max(0.05, 0.8 - 0.2 * distance)


def run(preferred: float, seed: int, ratings: int = RATINGS) -> tuple[dict, list[float]]:
    rng, rater = random.Random(seed), random.Random(10_000 + seed)
    state, played = initial_state(), []
    for _ in range(ratings):
        arm = choose_alpha(state, rng)
        liked = rater.random() < scripted_up_probability(arm, preferred)
        state = update(state, arm, "up" if liked else "down")
        played.append(arm)
    return state, played


def test_initial_state_is_json_and_uniform():
    state = initial_state()
    assert json.loads(json.dumps(state)) == state
    assert [arm["alpha"] for arm in summary(state)] == list(ALPHA_GRID)
    assert {arm["posterior_mean"] for arm in summary(state)} == {0.5}


def test_update_counts_one_arm_and_leaves_the_input_alone():
    state = initial_state()
    after = update(update(state, 2.0, "up"), 2.0, "down")
    after = update(after, 5, "up")
    assert state == initial_state()
    rows = {row["alpha"]: row for row in summary(after)}
    assert (rows[2.0]["ups"], rows[2.0]["downs"], rows[2.0]["posterior_mean"]) == (1, 1, 0.5)
    assert (rows[5.0]["ups"], rows[5.0]["posterior_mean"]) == (1, round(2 / 3, 4))
    assert best_alpha(after) == 5.0
    assert withdraw(after, 5.0, "up") == update(update(state, 2.0, "up"), 2.0, "down")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: update(s, 4.0, "up"), "alpha"),
        (lambda s: update(s, 1.0, "meh"), "rating"),
        (lambda s: withdraw(s, 1.0, "down"), "rating"),
        (lambda s: validate_state({"arms": []}), "arms"),
        (lambda s: validate_state({"arms": [{"alpha": 1, "ups": -1, "downs": 0}]}), "arms[0].ups"),
        (lambda s: validate_state({"arms": [{"alpha": "x", "ups": 0, "downs": 0}]}), "arms[0].alpha"),
        (lambda s: initial_state([1.0, 1.0]), "grid"),
    ],
)
def test_bad_input_names_the_field(call, field):
    with pytest.raises(SteeringStateError, match=rf"^{re.escape(field)}:"):
        call(initial_state())


def test_choice_is_deterministic_given_the_generator():
    state = update(update(initial_state(), 3.0, "up"), 0.0, "down")
    first = [choose_alpha(state, random.Random(7)) for _ in range(3)]
    assert first == [choose_alpha(state, random.Random(7)) for _ in range(3)]
    draws = [choose_alpha(state, rng) for rng in [random.Random(7)] for _ in range(50)]
    assert set(draws) <= set(ALPHA_GRID) and len(set(draws)) > 1  # it still explores


@pytest.mark.parametrize("preferred", ALPHA_GRID)
def test_the_posterior_concentrates_on_the_raters_alpha(preferred):
    for seed in range(5):
        state, played = run(preferred, seed)
        assert best_alpha(state) == preferred, (seed, summary(state))
        recent = played[-RATINGS // 2 :]
        assert recent.count(preferred) / len(recent) >= 0.5, (seed, summary(state))


def test_without_ratings_every_arm_is_tried_about_equally():
    rng = random.Random(11)
    draws = [choose_alpha(initial_state(), rng) for _ in range(1000)]
    assert all(0.15 <= draws.count(alpha) / len(draws) <= 0.25 for alpha in ALPHA_GRID)

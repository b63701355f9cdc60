"""A per-token step size for Linear Alignment: the step shrinks where it would move the policy too far.

The paper's step is the closed-form solution of a policy update bounded by a divergence from the policy it
starts from (Gao et al. 2024, section 3). A fixed alpha ignores that bound token by token: where the two streams
disagree strongly the step moves the distribution much further than where they nearly agree. Here the step is
scaled per token so that KL(softmax(z / T) || softmax(z_p / T)) stays within `bound` (a trust region, as in
TRPO's KL-bounded step): with z = z_p + s * (z_full - z_p), s = 1 when the full step is within the bound, else
the largest s in [0, 1] that keeps it (bisection).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def step_divergence(combined: torch.Tensor, principle: torch.Tensor, temperature: float) -> float:
    """KL(softmax(z / T) || softmax(z_p / T)) of one request's rows."""
    log_q = torch.log_softmax(combined / temperature, dim=-1)
    log_p = torch.log_softmax(principle / temperature, dim=-1)
    return float((log_q.exp() * (log_q - log_p)).sum())


def bounded_step(
    combined: torch.Tensor, principle: torch.Tensor, bound: float, temperature: float, iterations: int = 7
) -> torch.Tensor:
    """z with the Linear Alignment step (z - z_p) scaled down until its divergence from z_p is at most `bound`
    (the largest such scale to 1/2**iterations, found by bisection: the divergence grows with the scale)."""
    divergence = step_divergence(combined, principle, temperature)
    if divergence <= bound or not math.isfinite(divergence):
        return combined
    step = combined - principle
    low, high = 0.0, 1.0
    for _ in range(iterations):
        middle = (low + high) / 2
        if step_divergence(principle + middle * step, principle, temperature) <= bound:
            low = middle
        else:
            high = middle
    return principle + low * step


class StepTrustRegion:
    """The bounded step as a logits processor (`processors.LogitsProcessor`); runs first, on the step itself."""

    def __init__(self, bound: float, temperature: float) -> None:
        self.bound = bound
        self.temperature = temperature

    def __call__(
        self, generated: Sequence[int], combined: torch.Tensor, principle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return bounded_step(combined, principle, self.bound, self.temperature), principle

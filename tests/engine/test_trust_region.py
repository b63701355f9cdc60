"""The per-token trust region on the Linear Alignment step (alignment_engine/trust_region.py)."""

import math

import torch

from alignment_engine import GenerationConfig, GenerationRequest
from alignment_engine.processors import processors_for
from alignment_engine.trust_region import StepTrustRegion, bounded_step, step_divergence


def test_divergence_on_a_hand_computed_pair():
    # T = 1: q = softmax([log 3, 0]) = (3/4, 1/4), p = (1/2, 1/2): KL = 3/4 log(3/2) + 1/4 log(1/2)
    combined, principle = torch.tensor([math.log(3.0), 0.0]), torch.zeros(2)
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert math.isclose(step_divergence(combined, principle, 1.0), expected, rel_tol=1e-5)


def test_a_step_within_the_bound_is_kept_and_a_larger_one_is_shrunk_along_itself():
    generator = torch.Generator().manual_seed(0)
    principle = torch.randn(500, generator=generator)
    plain = principle + 2 * torch.randn(500, generator=generator)
    combined = principle + 3 * (principle - plain)
    full = step_divergence(combined, principle, 0.5)
    assert torch.equal(bounded_step(combined, principle, full + 1, 0.5), combined)
    bounded = bounded_step(combined, principle, 1.0, 0.5)
    assert step_divergence(bounded, principle, 0.5) <= 1.0 < full
    step = combined - principle
    largest = int(step.abs().argmax())
    scale = float((bounded - principle)[largest] / step[largest])
    assert 0 < scale < 1 and torch.allclose(bounded, principle + scale * step, atol=1e-5)


def test_it_runs_first_and_only_for_linear_alignment():
    def request(**config):
        return GenerationRequest(messages=[{"role": "user", "content": "hi"}], config=GenerationConfig(**config))

    assert isinstance(processors_for(request(step_kl_bound=1.0))[0], StepTrustRegion)
    assert not any(isinstance(p, StepTrustRegion) for p in processors_for(request(step_kl_bound=1.0, alpha=0.0)))
    assert not any(isinstance(p, StepTrustRegion) for p in processors_for(request()))

"""Several principles at once: the strength of the Linear Alignment step does not grow with their number.

With equal weights every principle sits in one system message and the rule has two streams whatever their
count; with unequal weights each principle's own contrast is averaged (alpha/n * sum w_i (z_i - z_0)), so the
total step is alpha times the mean weight, never alpha times the sum.
"""

import pytest
import torch

from alignment_engine import linear_alignment as la


@pytest.mark.parametrize("count", [1, 2, 3, 5, 10])
def test_equal_weights_keep_two_streams_and_the_same_step(count):
    assert la.stream_coefficients(3.0, [1.0] * count) == [4.0, -3.0]


@pytest.mark.parametrize("weights", [[1.0, 0.5], [1.0, 0.5, 0.25], [2.0, 1.0, 1.0, 0.5, 0.5]])
def test_unequal_weights_step_is_alpha_times_the_mean_weight(weights):
    alpha = 3.0
    coefficients = la.stream_coefficients(alpha, weights)
    assert sum(coefficients) == pytest.approx(1.0)  # z stays on the logits' scale: penalties pass through alike
    assert coefficients[1] == pytest.approx(-alpha * sum(weights) / len(weights))
    assert sum(coefficients[2:]) == pytest.approx(alpha * sum(weights) / len(weights))


def test_the_combined_logits_do_not_blow_up_with_the_number_of_principles():
    """Same per-principle contrast d for each of n principles: z - z_P = alpha * mean(w) * d for every n."""
    torch.manual_seed(0)
    z_all, z_0, d = torch.randn(3, 50)
    for count in (2, 3, 6):
        weights = [1.0, 0.5] * (count // 2) + [1.0] * (count % 2)
        rows = torch.stack([z_all, z_0, *[z_0 + d for _ in weights]])
        mixing = la.mixing_matrix([la.stream_coefficients(3.0, weights)])
        combined = la.combine_streams(rows, mixing)[0]
        assert torch.allclose(combined - z_all, 3.0 * sum(weights) / count * d, atol=1e-5)

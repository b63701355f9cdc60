"""The pure Linear Alignment step against small hand-computed examples."""

import math

import pytest
import torch

from alignment_engine import linear_alignment as la
from tests.engine import reference


def test_combination_follows_z_p_plus_alpha_times_difference():
    z_p = torch.tensor([[2.0, 1.0, 0.0]])
    z_0 = torch.tensor([[1.0, 1.0, 1.0]])
    # z = z_p + 2 * (z_p - z_0) = [2+2, 1+0, 0-2]
    assert reference.combine_logits(z_p, z_0, 2.0).tolist() == [[4.0, 1.0, -2.0]]
    assert reference.combine_logits(z_p, z_0, 0.0).tolist() == z_p.tolist()


def test_mixing_matrix_reproduces_the_rule_for_a_batch_of_requests():
    logits = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 3.0, 0.0]])
    # request 0: two streams (rows 0, 1) with alpha 2; request 1: plain generation (row 2)
    mixing = la.mixing_matrix([la.stream_coefficients(2.0, [1.0]), la.stream_coefficients(2.0, [])])
    assert la.combine_streams(logits, mixing).tolist() == [[4.0, 1.0, -2.0], [0.0, 3.0, 0.0]]


def test_alpha_zero_or_no_principles_leave_one_stream():
    assert la.stream_coefficients(0.0, [1.0]) == [1.0]
    assert la.stream_coefficients(0.0, [2.0, 1.0]) == [1.0]
    assert la.stream_coefficients(3.0, []) == [1.0]
    assert not la.contrast_needed(0.0, [1.0]) and not la.contrast_needed(2.0, [])
    assert la.contrast_needed(1e-9, [1.0])


def test_weighted_principles_sum_their_directions():
    # streams: [all principles, plain, principle 1, principle 2]
    coefficients = la.stream_coefficients(1.0, [1.0, 3.0])
    assert coefficients == [1.0, -2.0, 0.5, 1.5]
    z_all, z_0, z_1, z_2 = (torch.tensor([[v, 0.0]]) for v in (1.0, 0.0, 2.0, 4.0))
    combined = la.combine_streams(torch.cat([z_all, z_0, z_1, z_2]), la.mixing_matrix([coefficients]))
    # z_all + 1/2 * (1*(z_1 - z_0) + 3*(z_2 - z_0)) = 1 + (2 + 12)/2 = 8
    assert combined[0, 0].item() == pytest.approx(8.0)
    assert la.stream_coefficients(2.0, [3.0, 3.0]) == [7.0, -6.0]


def test_plausibility_mask_is_the_principle_nucleus_and_keeps_the_top_token():
    # softmax of log-probabilities [0.5, 0.3, 0.15, 0.05]
    z_p = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    one = torch.ones(1)
    assert la.plausibility_mask(z_p, one, torch.tensor([0.7])).tolist() == [[True, True, False, False]]
    assert la.plausibility_mask(z_p, one, torch.tensor([0.8])).tolist() == [[True, True, False, False]]
    assert la.plausibility_mask(z_p, one, torch.tensor([0.81])).tolist() == [[True, True, True, False]]
    assert la.plausibility_mask(z_p, one, torch.tensor([0.01])).tolist() == [[True, False, False, False]]
    assert la.plausibility_mask(z_p, one, torch.tensor([1.0])).all()


def test_mask_falls_back_to_a_full_sort_when_the_top_candidates_do_not_cover_top_p():
    flat = torch.zeros(1, 1000)  # uniform: the top 256 hold 25.6% of the mass
    keep = la.plausibility_mask(flat, torch.ones(1), torch.tensor([0.5]))
    assert keep.sum().item() == 500


def test_full_step_by_hand():
    z_p = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    z_0 = torch.log(torch.tensor([[0.6, 0.2, 0.2]]))
    probs = reference.linear_alignment_step(z_p, z_0, alpha=1.0, temperature=1.0, top_p=0.7)
    # z = 2 z_p - z_0; the nucleus of p keeps tokens 0 and 1 only
    weights = [0.5**2 / 0.6, 0.3**2 / 0.2]
    expected = [w / sum(weights) for w in weights] + [0.0]
    assert probs[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert la.select_tokens(probs, [False], [None]).tolist() == [1]  # alignment flips the greedy choice


def test_temperature_is_applied_after_combining():
    z_p = torch.tensor([[1.0, 0.0]])
    z_0 = torch.tensor([[0.0, 0.0]])
    probs = reference.linear_alignment_step(z_p, z_0, alpha=1.0, temperature=0.5, top_p=1.0)
    # z = [2, 0]; softmax(z / 0.5) = softmax([4, 0])
    assert probs[0, 0].item() == pytest.approx(1 / (1 + math.exp(-4)), abs=1e-6)


def test_sampling_is_reproducible_per_generator():
    probs = torch.full((1, 50), 1 / 50)

    def draw(seed):
        generator = torch.Generator().manual_seed(seed)
        return [la.select_tokens(probs, [True], [generator]).item() for _ in range(20)]

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_repetition_penalty_and_ngram_ban():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    seen = torch.tensor([[True, True, False]])
    assert la.apply_repetition_penalty(logits, seen, torch.tensor([2.0])).tolist() == [[1.0, -4.0, 1.0]]
    assert la.banned_ngram_tokens([5, 6, 7, 5, 6], 3) == [7]
    assert la.banned_ngram_tokens([5, 6, 7], 3) == []
    banned = torch.tensor([[True, False, False]])
    probs = la.aligned_probabilities(logits, logits, torch.ones(1), torch.tensor([0.5]), banned)
    assert probs.argmax().item() == 2


@pytest.mark.parametrize("alpha", [0.0, 0.5, 3.0, 10.0])
def test_mixing_matrix_implementation_equals_the_papers_rule(alpha):
    generator = torch.Generator().manual_seed(int(alpha * 10))
    z_p, z_0 = torch.randn(2, 5, 300, generator=generator) * 4
    temperature, top_p = torch.full((5,), 0.5), torch.full((5,), 0.8)
    coefficients = la.stream_coefficients(alpha, [1.0])
    # rows [z_p of request 0, z_0 of request 0, z_p of request 1, ...]; alpha 0 keeps the principle rows only
    stream_logits = torch.stack([z_p, z_0], dim=1).reshape(10, 300) if len(coefficients) == 2 else z_p
    mixing = la.mixing_matrix([coefficients] * 5)
    implemented = la.aligned_probabilities(la.combine_streams(stream_logits, mixing), z_p, temperature, top_p)
    oracle = reference.linear_alignment_step(z_p, z_0, alpha, temperature, top_p)
    assert torch.allclose(implemented, oracle, atol=1e-6)
    assert torch.equal(implemented.argmax(-1), oracle.argmax(-1))


def test_stream_terms_name_each_streams_principles():
    assert la.stream_terms(2.0, []) == [la.StreamTerm(None, 1.0)]
    assert la.stream_terms(0.0, [1.0, 1.0]) == [la.StreamTerm((0, 1), 1.0)]
    assert la.stream_terms(2.0, [1.0]) == [la.StreamTerm((0,), 3.0), la.StreamTerm((), -2.0)]
    weighted = la.stream_terms(1.0, [1.0, 3.0])
    assert [term.principles for term in weighted] == [(0, 1), (), (0,), (1,)]
    assert [term.coefficient for term in weighted] == la.stream_coefficients(1.0, [1.0, 3.0])


def test_two_stream_view_of_the_mixing_equals_the_papers_combination():
    z_p, z_0 = torch.randn(2, 3, 20, generator=torch.Generator().manual_seed(5))
    for alpha in (0.0, 2.5):
        assert torch.allclose(la.combine_logits(z_p, z_0, alpha), reference.combine_logits(z_p, z_0, alpha), atol=1e-5)

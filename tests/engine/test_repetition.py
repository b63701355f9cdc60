"""The repetition guards on hand-computed examples (no model)."""

import pytest
import torch

from alignment_engine import linear_alignment as la
from alignment_engine import repetition as rep

# llama.cpp's worked example: a b c c b c y a b c (a=1, b=2, c=3, y=9).
EXAMPLE = [1, 2, 3, 3, 2, 3, 9, 1, 2, 3]


def test_z_function_textbook_example():
    # "aabxaab"
    assert rep.z_function([1, 1, 2, 9, 1, 1, 2]) == [0, 1, 0, 0, 3, 1, 0]


def test_z_function_of_a_constant_run():
    assert rep.z_function([7, 7, 7, 7]) == [0, 3, 2, 1]


def test_repeat_lengths_follow_llama_cpp_example():
    # Repeat counts 0 0 3 1 0 2 0 0 0 0: "a b c" ends at index 2 (next: c), "c" at 3 (next: b), "b c" at 5 (next: y).
    assert rep.dry_repeat_lengths(EXAMPLE, allowed_length=1) == {3: 3, 2: 1, 9: 2}
    assert rep.dry_repeat_lengths(EXAMPLE, allowed_length=2) == {3: 3, 9: 2}
    assert rep.dry_repeat_lengths(EXAMPLE, allowed_length=4) == {}


def test_penalty_grows_with_the_repeated_length():
    penalties = rep.dry_penalties(EXAMPLE, multiplier=0.8, base=1.75, allowed_length=2)
    assert penalties == pytest.approx({3: 0.8 * 1.75, 9: 0.8})


def test_breaker_limits_how_far_back_a_match_reaches():
    # The last "a" is 2 tokens from the end, so no repeat may be longer than 2.
    assert rep.dry_repeat_lengths(EXAMPLE, allowed_length=2, sequence_breakers={1}) == {3: 2, 9: 2}
    assert rep.dry_penalties(EXAMPLE, 0.8, 1.75, 2, sequence_breakers={1}) == pytest.approx({3: 0.8, 9: 0.8})
    # The window ends with a breaker: nothing to extend.
    assert rep.dry_penalties(EXAMPLE, 0.8, 1.75, 2, sequence_breakers={3}) == {}
    # A breaker far before the repeat changes nothing.
    assert rep.dry_repeat_lengths(EXAMPLE, allowed_length=2, sequence_breakers={9}) == {3: 3, 9: 2}


def test_breaker_tokens_are_never_penalised():
    tokens = [5, 1, 2, 5, 1, 2]
    assert rep.dry_repeat_lengths(tokens, allowed_length=2, sequence_breakers={5}) == {5: 2}
    assert rep.dry_penalties(tokens, 1.0, 2.0, 2, sequence_breakers={5}) == {}
    assert rep.dry_penalties(tokens, 1.0, 2.0, 2) == pytest.approx({5: 2.0})  # "1 2 5 1 2" repeats 3 -> 3 - 2


def test_window_is_the_last_penalty_last_n_tokens():
    tokens = [1, 2, 3, 1, 2]
    assert rep.dry_repeat_lengths(tokens, allowed_length=2, penalty_last_n=-1) == {3: 2}
    assert rep.dry_repeat_lengths(tokens, allowed_length=2, penalty_last_n=3) == {}  # window 3 1 2
    assert rep.dry_penalties(tokens, 1.0, 2.0, 2, penalty_last_n=0) == {}


def test_off_settings_and_short_windows():
    assert rep.dry_penalties(EXAMPLE, multiplier=0.0, base=1.75, allowed_length=2) == {}
    assert rep.dry_penalties(EXAMPLE, multiplier=0.8, base=0.9, allowed_length=2) == {}
    assert rep.dry_penalties([4, 4], multiplier=0.8, base=1.75, allowed_length=2) == {}  # 2 tokens <= allowed
    with pytest.raises(ValueError):
        rep.dry_repeat_lengths(EXAMPLE, allowed_length=0)
    with pytest.raises(ValueError):
        rep.dry_window(EXAMPLE, penalty_last_n=-2)


def test_exponent_is_clamped_to_stay_finite():
    tokens = [7] * 300  # "7 7 ... 7" (299 tokens) repeats at the start: exponent 297
    # 88.7228391 / ln 2 = 127.99..., so the exponent stops at 127 and the penalty fits a float32.
    assert rep.dry_penalties(tokens, 0.5, 2.0, 2) == {7: 0.5 * 2.0**127}
    assert torch.isfinite(rep.apply_dry(torch.zeros(8), tokens, 0.5, 2.0, 2)).all()


def test_apply_dry_subtracts_from_every_row():
    logits = torch.zeros(2, 10)
    penalised = rep.apply_dry(logits, EXAMPLE, multiplier=0.8, base=1.75, allowed_length=2)
    expected = torch.zeros(10)
    expected[3], expected[9] = -1.4, -0.8
    assert torch.allclose(penalised[0], expected) and torch.allclose(penalised[1], expected)
    assert torch.equal(logits, torch.zeros(2, 10))  # the input is left alone


def test_presence_and_frequency_follow_openai():
    logits = torch.tensor([1.0, 2.0, 3.0, 0.0, 0.5, -1.0, 0.0, 4.0])
    penalised = rep.apply_presence_frequency(logits, [4, 4, 7], presence_penalty=0.5, frequency_penalty=0.25)
    # token 4: 2 * 0.25 + 0.5 = 1.0, token 7: 1 * 0.25 + 0.5 = 0.75
    assert torch.allclose(penalised, torch.tensor([1.0, 2.0, 3.0, 0.0, -0.5, -1.0, 0.0, 3.25]))
    # Negative values reward repetition, as in OpenAI's API.
    rewarded = rep.apply_presence_frequency(logits, [2], presence_penalty=-1.0, frequency_penalty=0.0)
    assert rewarded[2].item() == 4.0
    assert rep.apply_presence_frequency(logits, [4], 0.0, 0.0) is logits


def test_ids_beyond_the_vocabulary_are_ignored():
    logits = torch.zeros(4)
    assert torch.equal(rep.subtract_penalties(logits, {2: 1.0, 9: 5.0}), torch.tensor([0.0, 0.0, -1.0, 0.0]))


def test_breaker_ids_are_tokens_containing_a_breaker():
    pieces = ["Hello", ":", "\n\n", " world", 'say"', "*", "a:b"]
    assert rep.breaker_token_ids(pieces) == frozenset({1, 2, 4, 5, 6})
    assert rep.breaker_token_ids(pieces, ["\n"]) == frozenset({2})


@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0])
def test_penalising_each_stream_equals_penalising_combined_and_mask_logits(alpha):
    """Stream coefficients sum to 1, so an additive penalty passes through the combination unchanged."""
    torch.manual_seed(0)
    principle, plain = torch.randn(1, 12), torch.randn(1, 12)
    penalties = {3: 1.5, 7: 0.25}
    combined_of_penalised = la.combine_logits(
        rep.subtract_penalties(principle, penalties), rep.subtract_penalties(plain, penalties), alpha
    )
    penalised_combined = rep.subtract_penalties(la.combine_logits(principle, plain, alpha), penalties)
    assert torch.allclose(combined_of_penalised, penalised_combined, atol=1e-5)


@pytest.mark.slow
@pytest.mark.llamacpp
def test_both_backends_find_the_same_breaker_tokens(engine):
    """DRY's breakers come from the vocabulary's text; both backends' tokenizers must give the same ids."""
    pytest.importorskip("llama_cpp")
    from alignment_engine import load_engine

    llama = load_engine(backend="llamacpp")

    def breakers(backend_engine):
        pieces = [backend_engine.tokenizer.decode([t], skip_special_tokens=False) for t in range(llama.vocab_size)]
        return rep.breaker_token_ids(pieces)

    found = breakers(llama)
    assert len(found) > 4  # every token containing a newline, colon, quote or asterisk
    assert breakers(engine) == found

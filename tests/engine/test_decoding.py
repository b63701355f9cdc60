"""The backend-neutral decoding step and request state on tiny hand-made tensors (no model)."""

import pytest
import torch

from alignment_engine import linear_alignment as la
from alignment_engine.decoding import Layout, RequestState, choose_tokens, record_tokens, request_generator, row_spans
from alignment_engine.prompts import StreamPlan
from alignment_engine.types import GenerationConfig, GenerationRequest, Principle

EOS = 3


class CharTokenizer:
    """Token i is the letter 'abc'[i]; EOS is special and decodes to nothing."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join("abc"[i] for i in ids if i != EOS)


def state(index, streams, principles=(), **config):
    request = GenerationRequest(
        messages=[{"role": "user", "content": "hi"}],
        principles=[Principle(text) for text in principles],
        config=GenerationConfig(**config),
    )
    plan = StreamPlan(streams, la.stream_coefficients(request.config.alpha, [p.weight for p in request.principles]))
    return RequestState.create(index, request, plan, CharTokenizer())


def test_layout_maps_rows_to_their_requests():
    active = [state(0, [[1], [1]], ["p"]), state(1, [[1]]), state(2, [[1], [1]], ["q"])]
    layout = Layout.of(active)
    assert row_spans(active) == [(0, 2), (2, 3), (3, 5)]
    assert layout.principle_rows.tolist() == [0, 2, 3]
    assert layout.row_request.tolist() == [0, 0, 1, 2, 2]
    assert layout.mixing.shape == (3, 5)
    assert layout.penalty is None


def test_choose_tokens_combines_each_requests_own_rows():
    aligned = state(0, [[1], [1]], ["p"], alpha=2.0, temperature=1.0, top_p=1.0)
    plain = state(1, [[1]], temperature=1.0, top_p=1.0)
    logits = torch.tensor(
        [
            [1.9, 2.0, 0.0, 0.0, 100.0],  # with the principle: token 1 alone would win
            [0.0, 2.0, 0.0, 0.0, 100.0],  # without: z = z_p + 2 (z_p - z_0) = [5.7, 2, 0, 0] -> token 0
            [0.0, 0.0, 3.0, 0.0, 100.0],  # plain request -> token 2
        ]
    )
    # column 4 is beyond the vocabulary (padding of the output layer) and never chosen
    active = [aligned, plain]
    assert choose_tokens(logits, active, Layout.of(active), vocab_size=4).tolist() == [0, 2]


def test_choose_tokens_applies_the_repetition_guards_per_request():
    penalised = state(0, [[1]], repetition_penalty=2.0, top_p=1.0)
    penalised.generated = [3]
    ngram = state(1, [[1]], no_repeat_ngram_size=2, top_p=1.0)
    ngram.generated = [0, 1, 0]  # "1" after "0" would repeat the bigram (0, 1)
    free = state(2, [[1]], top_p=1.0)
    logits = torch.tensor([[0.0, 0.0, 1.6, 3.0], [0.0, 5.0, 1.0, 0.0], [0.0, 5.0, 1.0, 0.0]])
    active = [penalised, ngram, free]
    assert choose_tokens(logits, active, Layout.of(active), vocab_size=4).tolist() == [2, 2, 1]


def test_record_tokens_yields_deltas_then_finished_results():
    length = state(0, [[7, 7]], max_new_tokens=2)
    stop = state(1, [[7]], stop=("b",))
    eos = state(2, [[7]])
    cancelled = state(3, [[7]])
    active = [length, stop, eos, cancelled]
    first = list(record_tokens(active, [0, 1, EOS, 0], lambda index: index == 3, frozenset({EOS}), 0.5, "m", "x"))
    assert [(index, delta) for index, delta, _ in first] == [(0, "a"), (1, ""), (2, ""), (3, "")]
    results = {index: result for index, _, result in first if result is not None}
    assert sorted(results) == [1, 2, 3]
    assert (results[1].finish_reason, results[1].text, results[1].tokens) == ("stop", "", 1)
    assert (results[2].finish_reason, results[2].tokens) == ("eos", 1)
    assert (results[3].finish_reason, results[3].tokens) == ("cancelled", 0)
    assert results[1].model_id == "m" and results[1].backend == "x" and results[1].timings["prefill_seconds"] == 0.5
    assert length.finish_reason is None and length.first_token_at is not None

    second = list(record_tokens([length], [1], None, frozenset({EOS}), 0.5, "m", "x"))
    assert [(index, delta) for index, delta, _ in second] == [(0, "b"), (0, "")]
    assert (second[-1][2].finish_reason, second[-1][2].text, second[-1][2].prompt_tokens) == ("length", "ab", 2)


def test_a_full_context_window_ends_the_request():
    windowed = state(0, [[7] * 5], max_new_tokens=100)
    assert windowed.advance(0, frozenset({EOS}), window=7) == "a"
    assert windowed.finish_reason is None
    windowed.advance(1, frozenset({EOS}), window=7)
    assert windowed.finish_reason == "length"


def test_request_generators_follow_the_seed():
    assert request_generator(GenerationConfig()) is None
    draws = [
        torch.rand(3, generator=request_generator(GenerationConfig(do_sample=True, seed=7))).tolist() for _ in range(2)
    ]
    assert draws[0] == draws[1]
    other = torch.rand(3, generator=request_generator(GenerationConfig(do_sample=True, seed=8))).tolist()
    assert draws[0] != pytest.approx(other)


def test_a_plan_needs_one_coefficient_per_stream():
    with pytest.raises(ValueError, match="2 streams for 1"):
        StreamPlan([[1], [1]], [1.0])


def test_request_processors_see_the_combined_and_principle_rows():
    seen = []

    def force_token_two(generated, combined, principle):
        seen.append((list(generated), combined.tolist(), principle.tolist()))
        forced = torch.full_like(combined, float("-inf"))
        forced[2] = 0.0
        return forced, forced

    aligned = state(0, [[1], [1]], ["p"], alpha=1.0, top_p=1.0)
    aligned.generated = [0]
    aligned.processors.append(force_token_two)
    free = state(1, [[1]], top_p=1.0)
    logits = torch.tensor([[3.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 5.0, 1.0, 0.0]])
    active = [aligned, free]
    assert choose_tokens(logits, active, Layout.of(active), vocab_size=4).tolist() == [2, 1]
    # z = 2 z_p - z_0 for the aligned request; z_p is its first row
    assert seen == [([0], [5.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0])]

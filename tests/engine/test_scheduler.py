"""The shared decode loop on a scripted model runner (no model): admission, rounds, window, cancel, lock."""

import pytest
import torch

from alignment_engine import GenerationConfig, GenerationRequest, InvalidParameterError, Principle
from alignment_engine.scheduler import BatchedEngine, BatchLimits

EOS = 3


class CharTokenizer:
    """One token per character of the rendered conversation; token i decodes to 'abc'[i], EOS to nothing."""

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "|".join(message["content"] for message in messages)

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [0] * len(text)}

    def decode(self, ids, skip_special_tokens=True):
        return "".join("abc"[i] for i in ids if i != EOS)


class ScriptedRunner:
    """Always prefers token 1 ("b"); records what the loop asks of it."""

    backend = "scripted"
    device = "cpu"
    vocab_size = 4
    token_choice_threads = None

    def __init__(self, context_length=1000, kv_bytes_per_token=1):
        self.context_length = context_length
        self.kv_bytes_per_token = kv_bytes_per_token
        self.rounds = []  # [(request indices, tokens per row)]
        self.released = []

    def _logits(self, active):
        rows = sum(state.rows for state in active)
        return torch.tensor([[0.0, 5.0, 1.0, 0.0]]).repeat(rows, 1)

    def prefill(self, active, tokens_per_row):
        self.rounds.append(([state.index for state in active], tokens_per_row))
        return self._logits(active)

    def step(self, active):
        return self._logits(active)

    def release(self, finished):
        self.released.extend(state.index for state in finished)


class ScriptedEngine(BatchedEngine):
    def __init__(self, runner, limits=BatchLimits(max_rows=64, kv_budget_bytes=10**9)):
        super().__init__(runner, CharTokenizer(), "scripted-model", frozenset({EOS}))
        self.round_limits = limits

    def limits(self):
        return self.round_limits


def ask(prompt, principles=(), **config):
    return GenerationRequest(
        messages=[{"role": "user", "content": prompt}],
        principles=[Principle(text) for text in principles],
        config=GenerationConfig(**{"max_new_tokens": 4, **config}),
    )


def test_a_prompt_longer_than_the_window_is_refused_before_anything_runs():
    runner = ScriptedRunner(context_length=10)
    engine = ScriptedEngine(runner)
    with pytest.raises(InvalidParameterError) as error:
        engine.generate_batch([ask("hi"), ask("x" * 12)])
    assert error.value.field == "messages"
    assert "12 tokens" in error.value.message and "holds 10" in error.value.message
    assert runner.rounds == []


def test_a_full_window_ends_the_reply_with_length():
    result = ScriptedEngine(ScriptedRunner(context_length=10)).generate(ask("x" * 7, max_new_tokens=50))
    assert (result.text, result.tokens, result.finish_reason) == ("bbb", 3, "length")
    assert (result.backend, result.model_id, result.prompt_tokens) == ("scripted", "scripted-model", 7)


def test_rounds_follow_the_row_and_kv_limits():
    requests = [ask("aaaa", ["p"]), ask("bb"), ask("cccc", ["q"]), ask("d")]  # 2, 1, 2, 1 rows
    runner = ScriptedRunner()
    results = ScriptedEngine(runner, BatchLimits(max_rows=3, kv_budget_bytes=10**9)).generate_batch(requests)
    assert [indices for indices, _ in runner.rounds] == [[0, 1], [2, 3]]
    assert [r.text for r in results] == ["bbbb"] * 4

    runner = ScriptedRunner(kv_bytes_per_token=2)
    # tokens per row: the longest stream ("p|aaaa" = 6, "bb" = 2, ...) + 4 new tokens
    ScriptedEngine(runner, BatchLimits(max_rows=64, kv_budget_bytes=2 * 3 * 10)).generate_batch(requests)
    assert runner.rounds == [([0, 1], 10), ([2, 3], 10)]
    runner = ScriptedRunner()
    ScriptedEngine(runner, BatchLimits(max_rows=1, kv_budget_bytes=1)).generate_batch(requests[:2])
    assert [indices for indices, _ in runner.rounds] == [[0], [1]]  # a request alone always gets a round


def test_cancel_finishes_one_request_and_releases_its_rows():
    runner = ScriptedRunner()
    results = ScriptedEngine(runner).generate_batch(
        [ask("a", max_new_tokens=3), ask("b", max_new_tokens=3)], should_cancel=lambda index: index == 1
    )
    assert [(r.finish_reason, r.tokens) for r in results] == [("length", 3), ("cancelled", 0)]
    assert runner.released == [1, 0]


def test_the_engine_lock_is_held_while_decoding_and_a_closed_stream_frees_its_round():
    runner = ScriptedRunner()
    engine = ScriptedEngine(runner)
    events = engine.stream(ask("a", max_new_tokens=20))
    assert next(events).delta == "b"
    assert engine._lock.locked()
    events.close()
    assert not engine._lock.locked()
    assert runner.released == [0]

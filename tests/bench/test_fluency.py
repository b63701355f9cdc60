"""bench/fluency.py: the reply NLL on hand-made logits, the summary arithmetic, and with the real model that a
fluent reply scores as more plausible than the same words shuffled."""

import math
import random

import pytest

from bench.fluency import ScoredReply, prompt_ids_for, reply_nll, summary_rows


class FixedLogits:
    """A causal LM stand-in whose next-token logits are the same table at every position."""

    def __init__(self, logits):
        import torch

        self.table = torch.tensor(logits)
        self.device = "cpu"

    def __call__(self, ids):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.table.expand(1, ids.shape[1], -1))


def test_reply_nll_is_the_mean_negative_log_probability_of_the_reply_tokens():
    model = FixedLogits([0.0, math.log(3.0)])  # p(0) = 1/4, p(1) = 3/4
    assert reply_nll(model, [0, 0], [1, 1]) == pytest.approx(-math.log(0.75))
    assert reply_nll(model, [0], [0, 1]) == pytest.approx(-(math.log(0.25) + math.log(0.75)) / 2)
    assert reply_nll(model, [0], []) == 0.0


def test_summary_weighs_tokens_and_counts_replies_above_the_threshold():
    scored = [ScoredReply("a", 1.0, 10), ScoredReply("a", 4.0, 30), ScoredReply("b", 0.5, 5)]
    rows = summary_rows(scored, high=20.0)
    assert rows[0][:2] == ["a", "2"]
    assert float(rows[0][2]) == pytest.approx((10 * 1.0 + 30 * 4.0) / 40, abs=1e-3)
    assert rows[0][4] == "50%"  # exp(4) = 54.6 > 20, exp(1) = 2.7 is not
    assert rows[1] == ["b", "1", "0.500", f"{math.exp(0.5):.2f}", "0%"]


def test_the_real_model_finds_a_fluent_reply_more_plausible_than_its_words_shuffled():
    from alignment_engine.models import load_model, resolve_model_path

    loaded = load_model(resolve_model_path(None), device="cpu")
    tokenizer = loaded.tokenizer
    reply = "Le thé vert se prépare avec de l'eau chaude, pas bouillante, pendant deux à trois minutes."
    words = reply.split()
    random.Random(0).shuffle(words)
    prompt = prompt_ids_for(tokenizer, "How do I brew green tea?", ["Always reply in French."])
    plain = prompt_ids_for(tokenizer, "How do I brew green tea?", [])
    assert "Always reply in French." in tokenizer.decode(prompt)
    assert "French" not in tokenizer.decode(plain)

    def nll(text, prompt_ids):
        return reply_nll(loaded.model, prompt_ids, tokenizer(text, add_special_tokens=False)["input_ids"])

    assert nll(reply, prompt) < nll(" ".join(words), prompt) - 0.5
    assert nll(reply, prompt) < nll(reply, plain)  # French is more plausible once the model is told to use it

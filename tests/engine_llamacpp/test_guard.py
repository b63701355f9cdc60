"""The repetition guard on the llama.cpp backend and against the torch backend: the same breaker ids from both
vocabularies, the same penalties on the same history, the same greedy choice where the logits agree, and the
real model's two-principle demo conversation does not loop."""

import pytest

pytest.importorskip("llama_cpp")

import torch  # noqa: E402

from alignment_engine import repetition  # noqa: E402
from alignment_engine.processors import guard_breaker_ids, repetition_guard  # noqa: E402
from alignment_engine.prompts import stream_token_ids  # noqa: E402
from bench.scoring import repeated_ngram_share  # noqa: E402
from tests.engine.test_guard import demo_request  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]


def test_both_backends_find_the_same_breaker_tokens(llama_engine, torch_engine):
    breakers = repetition.DEFAULT_SEQUENCE_BREAKERS
    torch_ids = guard_breaker_ids(torch_engine.tokenizer, breakers)
    llama_ids = guard_breaker_ids(llama_engine.tokenizer, breakers)
    assert torch_ids == llama_ids
    assert len(torch_ids) > 100  # "\n", ":", '"' and "*" occur in many tokens


def test_both_backends_penalise_and_choose_alike_on_the_same_history(llama_engine, torch_engine):
    """Greedy decoding with the guard on llama.cpp, then both backends' logits over that same history: the guard
    (a function of the generated tokens) subtracts the same amounts, and the guarded greedy choice agrees on
    every step where the two backends' top tokens are not near-ties."""
    request = demo_request(max_new_tokens=48, alpha=0.0)
    result = llama_engine.generate(request)
    history = llama_engine.tokenizer(result.text, add_special_tokens=False)["input_ids"][:40]
    prompt = stream_token_ids(torch_engine.tokenizer, request)[0]
    guard = repetition_guard(request)
    tokens = list(prompt) + history
    steps = slice(len(prompt) - 1, len(tokens) - 1)
    with torch.inference_mode():
        torch_rows = torch_engine.model(input_ids=torch.tensor([tokens])).logits[0, steps].float()
    llama_rows = llama_engine.sequence_logits(tokens)[steps][:, : torch_rows.shape[-1]].float()
    agree = total = 0
    for step in range(len(history)):
        generated = history[:step]
        assert guard.penalties(generated) == repetition_guard(request).penalties(generated)
        torch_row, _ = guard(generated, torch_rows[step].clone(), torch_rows[step].clone())
        llama_row, _ = guard(generated, llama_rows[step].clone(), llama_rows[step].clone())
        top2 = torch_row.topk(2).values
        if float(top2[0] - top2[1]) < 2.0:
            continue  # a near-tie: the quantised and float backends may differ
        total += 1
        agree += int(torch_row.argmax() == llama_row.argmax())
    assert total > 0 and agree == total


def test_the_two_principle_demo_does_not_loop_on_llamacpp(llama_engine):
    result = llama_engine.generate(demo_request())
    share = repeated_ngram_share(result.text)
    print(
        f"llama.cpp demo: {result.tokens} tokens, {result.finish_reason}, repeated 4-grams {share:.2f}: {result.text!r}"
    )
    assert share <= 0.3

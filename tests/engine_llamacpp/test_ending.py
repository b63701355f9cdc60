"""The end-of-turn bonus with the real model: long replies that ran into the token limit end on their own, at a
sentence end, and a reply that ended before the bonus starts is left as it was."""

import pytest

pytest.importorskip("llama_cpp")

from alignment_engine import GenerationConfig, GenerationRequest, Principle  # noqa: E402
from alignment_engine.ending import ends_sentence  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

QUESTIONS = [
    "What are some tips for improving time management?",
    "Explain how vaccines work.",
    "How can I learn to play the guitar?",
]


def requests(**config):
    return [
        GenerationRequest(
            messages=[{"role": "user", "content": question}],
            principles=[Principle("Your answer should be verbose as much as possible.")],
            config=GenerationConfig(max_new_tokens=96, **config),
        )
        for question in QUESTIONS
    ]


def test_replies_that_hit_the_limit_end_at_a_sentence_end_with_the_bonus(llama_engine):
    without = llama_engine.generate_batch(requests(end_bonus=0))
    cut = [index for index, result in enumerate(without) if result.finish_reason == "length"]
    assert cut, "every reply ended on its own within 96 tokens without the bonus: the test shows nothing"
    with_bonus = llama_engine.generate_batch(requests(end_bonus=10, end_bonus_start=0.5))
    for index in cut:
        result = with_bonus[index]
        print(f"{QUESTIONS[index]!r}: {result.tokens} tokens, {result.finish_reason}: {result.text[-80:]!r}")
        assert result.finish_reason == "eos"
        assert ends_sentence(result.text)
        assert result.tokens > 48  # never before the bonus starts (half of the budget)
        # the same reply up to where it ended: the bonus only decides where to stop
        assert without[index].text.startswith(result.text.rstrip())


def test_a_reply_that_ends_before_the_bonus_starts_is_unchanged(llama_engine):
    short = GenerationRequest(
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        principles=[Principle("Answer in one short sentence.")],
        config=GenerationConfig(max_new_tokens=96, end_bonus=0),
    )
    plain = llama_engine.generate(short)
    assert plain.finish_reason == "eos" and plain.tokens < 48
    bonus = llama_engine.generate(
        GenerationRequest(
            messages=short.messages, principles=short.principles, config=GenerationConfig(max_new_tokens=96)
        )
    )
    assert bonus.text == plain.text

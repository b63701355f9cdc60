"""The torch engine on the real default model (SmolLM2-135M-Instruct)."""

import pytest
import torch

from alignment_engine import GenerationConfig, GenerationRequest, InvalidParameterError, Principle
from alignment_engine.prompts import stream_token_ids
from alignment_engine.torch_engine import TorchEngine
from bench import scoring

pytestmark = pytest.mark.slow

QUESTIONS = [
    "How can I sleep better?",
    "What is a good way to learn a new language?",
    "Give me a tip for saving money.",
    "Why is the sky blue?",
]


def ask(question, principles=(), **config):
    return GenerationRequest(
        messages=[{"role": "user", "content": question}],
        principles=[Principle(p) if isinstance(p, str) else p for p in principles],
        config=GenerationConfig(**config),
    )


def french_share(text):
    """Share of the reply's words that are French function words (the quality benchmark's list)."""
    words = scoring.words(text)
    return sum(w in scoring.FRENCH for w in words) / max(len(words), 1)


def test_alpha_zero_is_greedy_decoding_of_the_principle_prompt(engine):
    # the repetition guard and the end bonus (on by default) are not part of HF generate: switched off to compare
    request = ask(QUESTIONS[0], ["Answer like a pirate."], alpha=0.0, max_new_tokens=40, dry_multiplier=0, end_bonus=0)
    result = engine.generate(request)
    prompt = torch.tensor([stream_token_ids(engine.tokenizer, request)[0]])
    with torch.inference_mode():
        reference = engine.model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            max_new_tokens=40,
            pad_token_id=engine.tokenizer.pad_token_id,
        )[0, prompt.shape[1] :]
    expected = engine.tokenizer.decode(reference, skip_special_tokens=True)
    assert result.text == expected
    assert result.tokens == len(reference)


def test_alignment_changes_the_output(engine):
    aligned = engine.generate(ask(QUESTIONS[0], ["Answer like a pirate."], alpha=3.0, max_new_tokens=30))
    prompted = engine.generate(ask(QUESTIONS[0], ["Answer like a pirate."], alpha=0.0, max_new_tokens=30))
    assert aligned.text != prompted.text


def test_batched_equals_one_at_a_time(engine):
    requests = [
        ask(QUESTIONS[0], ["Always reply in French."], max_new_tokens=24),
        ask(QUESTIONS[1], [], max_new_tokens=12),
        ask(QUESTIONS[0], ["Answer like a pirate."], max_new_tokens=12, alpha=0.0),
        ask(QUESTIONS[2], ["Be concise.", "Use a bullet list."], max_new_tokens=24, alpha=1.0),
        ask(QUESTIONS[3], [Principle("Be concise.", 2.0), Principle("Mention the sea.", 1.0)], max_new_tokens=20),
        ask(QUESTIONS[1], ["Be enthusiastic."], max_new_tokens=24, do_sample=True, seed=3, temperature=0.9),
    ]
    batched = engine.generate_batch(requests)
    single = [engine.generate(request) for request in requests]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.tokens for r in batched] == [r.tokens for r in single]
    assert batched[1].tokens <= 12


def test_same_seed_same_text_and_seeds_can_differ(engine):
    def sample(seed):
        return engine.generate(
            ask(
                QUESTIONS[2], ["Be creative."], do_sample=True, seed=seed, temperature=1.0, top_p=1.0, max_new_tokens=24
            )
        ).text

    assert sample(11) == sample(11)
    assert len({sample(11), sample(12), sample(13)}) > 1


def test_french_principle_moves_the_output_towards_french(engine):
    plain = engine.generate_batch([ask(q, max_new_tokens=40) for q in QUESTIONS])
    french = engine.generate_batch([ask(q, ["Always reply in French."], max_new_tokens=40) for q in QUESTIONS])
    plain_share = sum(french_share(r.text) for r in plain) / len(plain)
    french_share_ = sum(french_share(r.text) for r in french) / len(french)
    assert french_share_ > plain_share + 0.1, (plain_share, french_share_, [r.text for r in french])


def test_stream_deltas_concatenate_to_the_final_text(engine):
    events = list(engine.stream(ask(QUESTIONS[1], ["Always reply in French."], max_new_tokens=40)))
    result = events[-1].result
    assert result is not None and all(e.result is None for e in events[:-1])
    assert len(events) > 3
    assert "".join(e.delta for e in events) == result.text
    assert result.tokens > 0 and result.finish_reason in {"eos", "length"}
    assert {"prefill_seconds", "decode_seconds", "tokens_per_second"} <= set(result.timings)
    assert result.backend == "torch" and result.to_dict()["config"]["alpha"] == result.config.alpha


def test_finish_reasons_length_stop_and_cancel(engine):
    length = engine.generate(ask(QUESTIONS[1], max_new_tokens=5))
    assert (length.finish_reason, length.tokens) == ("length", 5)
    free = engine.generate(ask(QUESTIONS[1], max_new_tokens=30))
    stop_word = free.text.split()[3]
    stopped = engine.generate(ask(QUESTIONS[1], max_new_tokens=30, stop=[stop_word]))
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(stop_word)]
    deltas = []
    results = engine.generate_batch(
        [ask(QUESTIONS[0], max_new_tokens=30), ask(QUESTIONS[1], max_new_tokens=30)],
        on_delta=lambda index, text: deltas.append(index),
        should_cancel=lambda index: index == 0 and len(deltas) > 2,
    )
    assert results[0].finish_reason == "cancelled" and results[0].tokens < 30
    assert results[1].finish_reason in {"length", "eos"} and results[1].tokens > results[0].tokens


def test_eos_ends_a_short_answer(engine):
    result = engine.generate(ask("Reply with just the word yes.", max_new_tokens=40))
    assert result.finish_reason == "eos" and result.tokens < 40


def test_prompt_longer_than_the_context_is_rejected(engine):
    with pytest.raises(InvalidParameterError) as error:
        engine.generate(ask("word " * 9000))
    assert error.value.field == "messages"
    assert f"holds {engine.model.config.max_position_embeddings}" in error.value.message


def test_a_small_window_refuses_long_prompts_and_ends_replies_at_its_edge(engine):
    request = ask(QUESTIONS[0], ["Answer like a pirate."], max_new_tokens=100)
    prompt_tokens = max(len(stream) for stream in engine.prompt_token_ids(request))

    def with_window(tokens):
        return TorchEngine(engine.model, engine.tokenizer, engine.model_id, engine.device, context_length=tokens)

    result = with_window(prompt_tokens + 6).generate(request)
    assert (result.tokens, result.finish_reason) == (6, "length")
    assert result.text == engine.generate(ask(QUESTIONS[0], ["Answer like a pirate."], max_new_tokens=6)).text
    with pytest.raises(InvalidParameterError) as error:
        with_window(prompt_tokens).generate(request)
    assert error.value.message == f"the prompt has {prompt_tokens} tokens; the model's context holds {prompt_tokens}"

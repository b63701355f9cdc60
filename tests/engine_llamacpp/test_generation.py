"""The llama.cpp backend keeps the engine's contract: results, batching, seeds, streaming, stops, errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("llama_cpp")

from alignment_engine import (  # noqa: E402
    GenerationConfig,
    GenerationRequest,
    InvalidParameterError,
    Principle,
    llamacpp_backend,  # noqa: E402
    load_engine,
)
from alignment_engine.llamacpp_backend import LlamaCppEngine  # noqa: E402
from alignment_engine.models import default_model_path  # noqa: E402

pytestmark = pytest.mark.llamacpp

BASE_SYSTEM = (
    "You are Pip, the assistant of a personal notes app. You help the user organise notes, plan the day "
    "and answer questions about what they wrote."
)


def request(prompt: str, principles: list | None = None, **config) -> GenerationRequest:
    return GenerationRequest(
        messages=[{"role": "user", "content": prompt}],
        principles=list(principles or []),
        config=GenerationConfig(**{"max_new_tokens": 24, **config}),
    )


def outcome(result) -> tuple[str, int, str]:
    return result.text, result.tokens, result.finish_reason


def test_result_names_backend_and_model(llama_engine):
    hello = request("Say hello.", ["Be brief"], max_new_tokens=8)
    result = llama_engine.generate(hello)
    assert result.backend == "llamacpp" and llama_engine.backend == "llamacpp"
    assert result.model_id == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert 1 <= result.tokens <= 8
    assert result.finish_reason in ("length", "eos")
    assert result.prompt_tokens == len(llama_engine.prompt_token_ids(hello)[0])
    json.dumps(result.to_dict())


def test_batched_equals_one_at_a_time(llama_engine):
    requests = [
        request("Name three fruits.", ["Always reply in French"], alpha=2.0),
        request("What is rain?"),
        request("Name a river.", ["Answer like a pirate"], alpha=0.0),
        request("Give me a tip for sleeping well.", [Principle("Be concise", 2.0), Principle("Be cheerful", 0.5)]),
        request(
            "Tell me a story about a fox.", ["Use simple words"], do_sample=True, seed=7, temperature=1.0, top_p=0.95
        ),
        request("List some colours.", ["Answer as a list"], repetition_penalty=1.3, no_repeat_ngram_size=3),
        GenerationRequest(
            messages=[{"role": "system", "content": BASE_SYSTEM}, {"role": "user", "content": "Plan my morning."}],
            principles=[Principle("Be formal")],
            config=GenerationConfig(max_new_tokens=12),
        ),
    ]
    batched = llama_engine.generate_batch(requests)
    single = [llama_engine.generate(r) for r in requests]
    assert [outcome(r) for r in batched] == [outcome(r) for r in single]


def test_alpha_zero_decodes_the_principle_prompt_alone(llama_engine):
    prompted = request("Name a river.", ["Answer like a pirate"], alpha=0.0)
    as_system_message = GenerationRequest(
        messages=[{"role": "system", "content": "Answer like a pirate"}, {"role": "user", "content": "Name a river."}],
        config=GenerationConfig(max_new_tokens=24),
    )
    assert len(llama_engine.prompt_token_ids(prompted)) == 1
    assert llama_engine.prompt_token_ids(prompted) == llama_engine.prompt_token_ids(as_system_message)
    assert outcome(llama_engine.generate(prompted)) == outcome(llama_engine.generate(as_system_message))


def test_same_seed_same_text(llama_engine):
    def sampled(seed: int) -> str:
        return llama_engine.generate(
            request(
                "Invent a name for a bakery.", ["Be playful"], do_sample=True, seed=seed, temperature=1.2, top_p=1.0
            )
        ).text

    assert sampled(11) == sampled(11)
    assert len({sampled(seed) for seed in (1, 2, 3, 4)}) > 1


def test_stream_deltas_concatenate_to_final_text(llama_engine):
    emoji = request("Repeat after me: 🌞🌈🍞 日本語 ελληνικά", ["Use emoji"], max_new_tokens=30)
    events = list(llama_engine.stream(emoji))
    assert events[-1].result is not None and all(event.result is None for event in events[:-1])
    deltas = [event.delta for event in events]
    text = events[-1].result.text
    assert "".join(deltas) == text
    assert any(ord(character) > 0xFFFF for character in text)  # emoji: one character over several tokens
    shown = [delta for delta in deltas if delta]
    assert not any("\ufffd" in delta for delta in shown[:-1])  # only a reply cut mid-character ends in U+FFFD


def test_on_delta_reports_each_request_text(llama_engine):
    requests = [request("Count to five.", ["Use digits"]), request("Say goodbye.")]
    collected = {0: "", 1: ""}

    def on_delta(index: int, delta: str) -> None:
        collected[index] += delta

    results = llama_engine.generate_batch(requests, on_delta=on_delta)
    assert [collected[0], collected[1]] == [r.text for r in results]


def test_stop_string_ends_the_text_before_it(llama_engine):
    plain = llama_engine.generate(request("Describe a sunny beach.", ["Be vivid"], max_new_tokens=30))
    words = plain.text.split()
    assert len(words) > 3
    stop = words[2]
    stopped = llama_engine.generate(request("Describe a sunny beach.", ["Be vivid"], max_new_tokens=30, stop=[stop]))
    assert stopped.finish_reason == "stop"
    assert stopped.text == plain.text[: plain.text.index(stop)]


def test_max_new_tokens_gives_length(llama_engine):
    result = llama_engine.generate(request("Write a long essay about the history of bread.", max_new_tokens=3))
    assert (result.tokens, result.finish_reason) == (3, "length")


def test_cancel_stops_only_that_request(llama_engine):
    results = llama_engine.generate_batch(
        [request("Say yes.", max_new_tokens=6), request("Write a poem.", ["Rhyme"], max_new_tokens=40)],
        should_cancel=lambda index: index == 1,
    )
    assert results[1].finish_reason == "cancelled" and results[1].tokens == 0
    assert results[0].finish_reason in ("length", "eos")


def test_shared_prompt_prefix_is_evaluated_once_with_the_same_result(llama_engine, monkeypatch):
    shared = GenerationRequest(
        messages=[
            {"role": "system", "content": BASE_SYSTEM},
            {"role": "user", "content": "What should I write today?"},
        ],
        principles=[Principle("Reply in French")],
        config=GenerationConfig(max_new_tokens=20),
    )
    streams = llama_engine.prompt_token_ids(shared)
    assert llamacpp_backend._shared_prefix(streams) >= llamacpp_backend.MIN_SHARED_PREFIX
    with_copy = llama_engine.generate(shared)
    monkeypatch.setattr(llamacpp_backend, "MIN_SHARED_PREFIX", 10**9)
    assert llamacpp_backend._shared_prefix(streams) == 0
    without_copy = llama_engine.generate(shared)
    assert outcome(with_copy) == outcome(without_copy)


def test_requests_beyond_the_kv_budget_wait_for_a_later_round(llama_engine, monkeypatch):
    requests = [request("Name a colour.", ["Be brief"], max_new_tokens=8), request("Name an animal.", max_new_tokens=8)]
    together = llama_engine.generate_batch(requests)
    monkeypatch.setattr(llamacpp_backend, "MAX_KV_BYTES", 1)
    order: list[int] = []
    apart = llama_engine.generate_batch(requests, on_delta=lambda index, delta: order.append(index))
    assert order == sorted(order) and set(order) == {0, 1}  # the second request starts after the first ends
    assert [outcome(r) for r in apart] == [outcome(r) for r in together]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"alpha": -1}, "alpha"),
        ({"temperature": 0}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"seed": -3}, "seed"),
        ({"stop": [""]}, "stop"),
        ({"beam_width": 2}, "beam_width"),
    ],
)
def test_bad_parameters_fail_before_decoding(llama_engine, values, field):
    with pytest.raises(InvalidParameterError) as error:
        llama_engine.generate(GenerationRequest.from_prompt("Hi", config=GenerationConfig.from_dict(values)))
    assert error.value.field == field


def test_bad_engine_arguments_name_the_field(tmp_path):
    with pytest.raises(InvalidParameterError) as error:
        LlamaCppEngine(default_model_path(), n_threads=0)
    assert error.value.field == "n_threads"
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InvalidParameterError) as error:
        load_engine(model=str(tmp_path), backend="llamacpp")
    assert error.value.field == "model"


def test_prompt_longer_than_the_context_is_rejected(llama_engine):
    with pytest.raises(InvalidParameterError) as error:
        llama_engine.generate(request("word " * 9000))
    assert error.value.field == "messages"

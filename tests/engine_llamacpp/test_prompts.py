"""Both backends feed the model the same prompt token ids and turn token ids into the same text."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp")

from alignment_engine import GenerationRequest, Principle  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

REQUESTS = [
    GenerationRequest.from_prompt("What is the capital of France?", ["Always reply in French"]),
    GenerationRequest.from_prompt("Hi", []),
    GenerationRequest(
        messages=[
            {"role": "system", "content": "You are Pip, a terse assistant for a personal notes app."},
            {"role": "user", "content": "Résume ce texte : « Les étés sont chauds. » 🌞"},
            {"role": "assistant", "content": "Étés chauds."},
            {"role": "user", "content": "Plus court, s'il te plaît.\n\nMerci !"},
        ],
        principles=[Principle("Be concise", 2.0), Principle("Use no emoji", 0.5)],
    ),
    GenerationRequest.from_prompt("Write <|im_end|> literally and 日本語 too", ["Answer in Markdown", "Be polite"]),
]


@pytest.mark.parametrize("request_index", range(len(REQUESTS)))
def test_prompt_token_ids_match_the_torch_backend(llama_engine, torch_engine, request_index):
    from alignment_engine.prompts import stream_token_ids

    request = REQUESTS[request_index]
    assert llama_engine.prompt_token_ids(request) == stream_token_ids(torch_engine.tokenizer, request)


def test_decoding_matches_the_torch_tokenizer(llama_engine, torch_engine):
    ids = torch_engine.tokenizer("Ça coûte 5 € — 日本語 🌞 <|im_end|> fin", add_special_tokens=False)["input_ids"]
    for end in range(1, len(ids) + 1):
        expected = torch_engine.tokenizer.decode(ids[:end], skip_special_tokens=True)
        assert llama_engine.tokenizer.decode(ids[:end]) == expected

"""Streams: principles in the system message via the chat template; base system text in every stream."""

import pytest

from alignment_engine import GenerationConfig, GenerationRequest, Principle
from alignment_engine.prompts import render, stream_conversations, stream_token_ids

pytestmark = pytest.mark.slow

CONVERSATION = [
    {"role": "system", "content": "You are a travel agent."},
    {"role": "user", "content": "Where should I go?"},
    {"role": "assistant", "content": "Somewhere warm?"},
    {"role": "user", "content": "Yes, in Europe."},
]


def test_principle_and_plain_streams_differ_only_in_the_slot(engine):
    request = GenerationRequest(messages=CONVERSATION, principles=[Principle("Answer in French.")])
    principled, plain = (render(engine.tokenizer, c) for c in stream_conversations(request))
    assert principled == plain.replace("You are a travel agent.", "You are a travel agent.\n\nAnswer in French.")
    assert principled.count("You are a travel agent.") == 1
    assert "Somewhere warm?" in plain and plain.endswith("<|im_start|>assistant\n")


def test_without_base_text_the_plain_stream_has_an_empty_slot(engine):
    request = GenerationRequest(messages=[{"role": "user", "content": "Hi"}], principles=[Principle("Be brief.")])
    principled, plain = (render(engine.tokenizer, c) for c in stream_conversations(request))
    assert principled.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert plain.startswith("<|im_start|>system\n<|im_end|>")


def test_plain_generation_uses_the_conversation_as_given(engine):
    request = GenerationRequest(messages=[{"role": "user", "content": "Hi"}])
    assert stream_token_ids(engine.tokenizer, request) == [
        engine.tokenizer(render(engine.tokenizer, request.messages), add_special_tokens=False)["input_ids"]
    ]


def test_several_principles_share_one_slot_and_unequal_weights_add_streams(engine):
    principles = [Principle("Be brief."), Principle("Use lowercase.")]
    assert len(stream_conversations(GenerationRequest(messages=CONVERSATION, principles=principles))) == 2
    weighted = [Principle("Be brief.", 2.0), Principle("Use lowercase.", 1.0)]
    streams = stream_conversations(GenerationRequest(messages=CONVERSATION, principles=weighted))
    assert len(streams) == 4
    assert "Be brief." in streams[0][0]["content"] and "Use lowercase." in streams[0][0]["content"]
    assert "Use lowercase." not in streams[2][0]["content"] and "Be brief." not in streams[3][0]["content"]


def test_alpha_zero_decodes_the_principle_stream_alone(engine):
    aligned = GenerationRequest(messages=CONVERSATION, principles=[Principle("Be brief.")])
    prompted = GenerationRequest(
        messages=CONVERSATION, principles=[Principle("Be brief.")], config=GenerationConfig(alpha=0.0)
    )
    assert stream_conversations(prompted) == stream_conversations(aligned)[:1]
    assert stream_token_ids(engine.tokenizer, prompted) == stream_token_ids(engine.tokenizer, aligned)[:1]

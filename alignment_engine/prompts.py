"""Turn a request into the token streams Linear Alignment contrasts.

The principles go into the system message through the tokenizer's own chat template. The plain stream is
the same conversation with the principle slot empty: a caller's leading system message (base text) stays
in every stream, so the contrast isolates the principles.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alignment_engine.linear_alignment import contrast_needed, uses_per_principle_streams
from alignment_engine.types import GenerationRequest, Principle

PRINCIPLES_HEADER = "Follow these principles in every reply:"


def principle_block(principles: Sequence[Principle]) -> str:
    """The text placed in the principle slot: one principle as is, several as a list."""
    if len(principles) == 1:
        return principles[0].text.strip()
    return "\n".join([PRINCIPLES_HEADER, *(f"- {p.text.strip()}" for p in principles)])


def system_text(base: str, principles: Sequence[Principle]) -> str:
    """Base system text followed by the principle slot (either may be empty)."""
    block = principle_block(principles) if principles else ""
    return "\n\n".join(part for part in (base.strip(), block) if part)


def stream_conversations(request: GenerationRequest) -> list[list[dict[str, str]]]:
    """Conversations ordered [all principles, plain, *each principle]; just the conversation if none, and
    only the principle conversation when alpha is 0."""
    messages = [dict(m) for m in request.messages]
    if not request.principles:
        return [messages]
    base = ""
    if messages[0]["role"] == "system":
        base = messages[0]["content"]
        messages = messages[1:]

    def with_system(principles: Sequence[Principle]) -> list[dict[str, str]]:
        return [{"role": "system", "content": system_text(base, principles)}, *messages]

    weights = [p.weight for p in request.principles]
    if not contrast_needed(request.config.alpha, weights):
        return [with_system(request.principles)]  # alpha 0: the other streams would get coefficient 0
    streams = [with_system(request.principles), with_system([])]
    if uses_per_principle_streams(weights):
        streams.extend(with_system([p]) for p in request.principles)
    return streams


def render(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def stream_token_ids(tokenizer: Any, request: GenerationRequest) -> list[list[int]]:
    """Token ids of every stream of the request (the chat template adds the special tokens)."""
    return [
        tokenizer(render(tokenizer, conversation), add_special_tokens=False)["input_ids"]
        for conversation in stream_conversations(request)
    ]

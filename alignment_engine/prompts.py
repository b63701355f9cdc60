"""Turn a request into its stream plan: the token streams Linear Alignment contrasts and their coefficients.

The principles go into the system message through the tokenizer's own chat template. The plain stream is
the same conversation with the principle slot empty: a caller's leading system message (base text) stays
in every stream, so the contrast isolates the principles. Which streams a request has and how they are
mixed is decided once, by `linear_alignment.stream_terms`; `plan_streams` turns those terms into token ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alignment_engine.linear_alignment import StreamTerm, stream_terms
from alignment_engine.types import GenerationRequest, Principle

PRINCIPLES_HEADER = "Follow these principles in every reply:"


@dataclass(frozen=True)
class StreamPlan:
    """A request's streams (prompt token ids, one list per stream) and their mixing coefficients, in order
    [all principles, plain, *each principle]; built once per request."""

    streams: list[list[int]]
    coefficients: list[float]

    def __post_init__(self) -> None:
        if not self.streams or len(self.streams) != len(self.coefficients):
            raise ValueError(f"{len(self.streams)} streams for {len(self.coefficients)} Linear Alignment coefficients")

    @property
    def longest(self) -> int:
        """Tokens in the longest stream."""
        return max(len(stream) for stream in self.streams)


def principle_block(principles: Sequence[Principle]) -> str:
    """The text placed in the principle slot: one principle as is, several as a list."""
    if len(principles) == 1:
        return principles[0].text.strip()
    return "\n".join([PRINCIPLES_HEADER, *(f"- {p.text.strip()}" for p in principles)])


def system_text(base: str, principles: Sequence[Principle]) -> str:
    """Base system text followed by the principle slot (either may be empty)."""
    block = principle_block(principles) if principles else ""
    return "\n\n".join(part for part in (base.strip(), block) if part)


def _streams(request: GenerationRequest) -> list[tuple[StreamTerm, list[dict[str, str]]]]:
    """Each stream's term and conversation, over the request's steering principles (a principle kept by its
    rules alone is not among them; which principles steer is decided once per request)."""
    steered = request.steered_principles()
    terms = stream_terms(request.config.alpha, [p.weight for p in steered])
    return [(term, _conversation(request, term, steered)) for term in terms]


def _conversation(request: GenerationRequest, term: StreamTerm, steered: Sequence[Principle]) -> list[dict[str, str]]:
    """The conversation of one stream: as given, or with the term's principles (of the steering ones) in the
    system slot."""
    messages = [dict(m) for m in request.messages]
    if term.principles is None:
        return messages
    base = ""
    if messages[0]["role"] == "system":
        base = messages[0]["content"]
        messages = messages[1:]
    principles = [steered[index] for index in term.principles]
    return [{"role": "system", "content": system_text(base, principles)}, *messages]


def stream_conversations(request: GenerationRequest) -> list[list[dict[str, str]]]:
    """Conversations ordered [all principles, plain, *each principle]; just the conversation if none, and
    only the principle conversation when alpha is 0."""
    return [conversation for _, conversation in _streams(request)]


def render(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _token_ids(tokenizer: Any, conversation: list[dict[str, str]]) -> list[int]:
    return tokenizer(render(tokenizer, conversation), add_special_tokens=False)["input_ids"]


def plan_streams(tokenizer: Any, request: GenerationRequest) -> StreamPlan:
    """The request's stream plan: token ids of every stream (the chat template adds the special tokens) and
    the coefficients that mix their logits."""
    streams = _streams(request)
    return StreamPlan(
        streams=[_token_ids(tokenizer, conversation) for _, conversation in streams],
        coefficients=[term.coefficient for term, _ in streams],
    )


def stream_token_ids(tokenizer: Any, request: GenerationRequest) -> list[list[int]]:
    """Token ids of every stream of the request (those of `plan_streams`)."""
    return plan_streams(tokenizer, request).streams

"""Request and result types shared by every backend."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from alignment_engine.config import GenerationConfig, InvalidParameterError

ROLES = ("system", "user", "assistant")
FINISH_REASONS = ("stop", "length", "eos", "cancelled")


@dataclass(frozen=True)
class Principle:
    """One user principle; `weight` scales its contrast direction (an extension beyond the paper)."""

    text: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidParameterError("principles", "each principle needs non-empty text")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight):
            raise InvalidParameterError("principles", "weight must be a finite number")
        if self.weight <= 0:
            raise InvalidParameterError("principles", "weight must be > 0")


@dataclass(frozen=True)
class GenerationRequest:
    """A conversation to continue, the principles to align it with, and the decoding settings."""

    messages: list[dict[str, str]]
    principles: list[Principle] = field(default_factory=list)
    config: GenerationConfig = field(default_factory=GenerationConfig)

    def __post_init__(self) -> None:
        _validate_messages(self.messages)
        if not isinstance(self.principles, (list, tuple)):
            raise InvalidParameterError("principles", "must be a list")
        principles = [p if isinstance(p, Principle) else Principle(p) for p in self.principles]
        object.__setattr__(self, "principles", principles)
        if not isinstance(self.config, GenerationConfig):
            raise InvalidParameterError("config", "must be a GenerationConfig")

    @classmethod
    def from_prompt(
        cls, prompt: str, principles: list[str] | None = None, config: GenerationConfig | None = None
    ) -> GenerationRequest:
        return cls(
            messages=[{"role": "user", "content": prompt}],
            principles=[Principle(text) for text in principles or []],
            config=config or GenerationConfig(),
        )


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidParameterError("messages", "must be a non-empty list")
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise InvalidParameterError("messages", f"item {position} must be {{'role', 'content'}}")
        if message.get("role") not in ROLES:
            raise InvalidParameterError("messages", f"item {position}: role must be one of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise InvalidParameterError("messages", f"item {position}: content must be a string")
        if message["role"] == "system" and position != 0:
            raise InvalidParameterError("messages", "only the first message may be a system message")
    if messages[-1]["role"] != "user":
        raise InvalidParameterError("messages", "the last message must come from the user")


@dataclass
class GenerationResult:
    """A finished reply; `tokens` counts new tokens, `timings` holds seconds per phase."""

    text: str
    tokens: int
    prompt_tokens: int
    finish_reason: str
    seconds: float
    timings: dict[str, float]
    model_id: str
    backend: str
    config: GenerationConfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "finish_reason": self.finish_reason,
            "seconds": self.seconds,
            "timings": dict(self.timings),
            "model_id": self.model_id,
            "backend": self.backend,
            "config": self.config.to_dict(),
        }


@dataclass(frozen=True)
class StreamEvent:
    """A text delta; the last event of a stream has `result` set (and usually an empty delta)."""

    delta: str
    result: GenerationResult | None = None

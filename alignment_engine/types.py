"""Request and result types shared by every backend."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from alignment_engine.config import GenerationConfig, InvalidParameterError
from alignment_engine.rule_recognition import recognise_rules, states_only_rules
from alignment_engine.rules import Rule, check_compatible, parse_rule

ROLES = ("system", "user", "assistant")
FINISH_REASONS = ("stop", "length", "eos", "cancelled")


@dataclass(frozen=True)
class Principle:
    """One user principle; `weight` scales its contrast direction (an extension beyond the paper).

    `rules`: what of the principle a program can check (`rules.py`), enforced exactly while decoding. Rules or
    their JSON form (parsed, errors name `rules[j]`).
    `steer`: whether the text also steers by Linear Alignment (in the prompt and the contrast). None (the
    default) decides by the text: a principle whose every sentence states a rule it holds is kept by its rules
    alone (measured: the same adherence, more fluent replies; docs/engine.md), any other one steers.
    """

    text: str
    weight: float = 1.0
    rules: tuple[Rule, ...] = ()
    steer: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidParameterError("principles", "each principle needs non-empty text")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight):
            raise InvalidParameterError("principles", "weight must be a finite number")
        if self.weight <= 0:
            raise InvalidParameterError("principles", "weight must be > 0")
        object.__setattr__(self, "rules", _parse_rules(self.rules))
        if self.steer is not None and not isinstance(self.steer, bool):
            raise InvalidParameterError("principles", "steer must be a boolean or null")

    @property
    def steered(self) -> bool:
        """Whether the text steers by Linear Alignment (see `steer`)."""
        if self.steer is not None:
            return self.steer
        if not self.rules or not states_only_rules(self.text):
            return True
        found = recognise_rules(self.text)
        return not found or not set(found) <= set(self.rules)

    @classmethod
    def from_dict(cls, data: Any) -> Principle:
        """A principle from its text or its JSON form {"text", "weight"?, "rules"?, "steer"?}; unknown keys
        refused."""
        if isinstance(data, Principle):
            return data
        if isinstance(data, str):
            return cls(data)
        if not isinstance(data, dict):
            raise InvalidParameterError("principles", "each principle must be a string or an object")
        unknown = set(data) - {"text", "weight", "rules", "steer"}
        if unknown:
            raise InvalidParameterError(f"{sorted(unknown)[0]}", "unknown key for a principle")
        return cls(data.get("text"), data.get("weight", 1.0), data.get("rules", ()), data.get("steer"))


def _parse_rules(rules: Any) -> tuple[Rule, ...]:
    if not isinstance(rules, (list, tuple)):
        raise InvalidParameterError("rules", "must be a list of rules")
    parsed = tuple(parse_rule(rule, f"rules[{index}]") for index, rule in enumerate(rules))
    check_compatible(parsed)
    return parsed


@dataclass(frozen=True)
class GenerationRequest:
    """A conversation to continue, the principles to align it with, and the decoding settings.

    `rules`: rules enforced without a principle of their own (nothing in the prompt steers towards them).
    """

    messages: list[dict[str, str]]
    principles: list[Principle] = field(default_factory=list)
    config: GenerationConfig = field(default_factory=GenerationConfig)
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        _validate_messages(self.messages)
        if not isinstance(self.principles, (list, tuple)):
            raise InvalidParameterError("principles", "must be a list")
        principles = []
        for position, principle in enumerate(self.principles):
            try:
                principles.append(Principle.from_dict(principle))
            except InvalidParameterError as error:
                where = error.field if error.field.startswith("principles") else f"principles[{position}].{error.field}"
                raise InvalidParameterError(where, error.message) from None
        object.__setattr__(self, "principles", principles)
        object.__setattr__(self, "rules", _parse_rules(self.rules))
        if not isinstance(self.config, GenerationConfig):
            raise InvalidParameterError("config", "must be a GenerationConfig")

    def steered_principles(self) -> list[Principle]:
        """The principles that steer by Linear Alignment (in the prompt and the contrast), in order."""
        return [principle for principle in self.principles if principle.steered]

    def enforced_rules(self) -> tuple[Rule, ...]:
        """The union of the request's rules and its principles' rules (each once), refused with
        InvalidParameterError naming `principles[i].rules[j]` (or `rules[j]`) when no reply can keep them all."""
        sources: dict[Rule, str] = {}
        for position, rule in enumerate(self.rules):
            sources.setdefault(rule, f"rules[{position}]")
        for position, principle in enumerate(self.principles):
            for index, rule in enumerate(principle.rules):
                sources.setdefault(rule, f"principles[{position}].rules[{index}]")
        rules = tuple(sources)
        names = list(sources.values())
        try:
            check_compatible(rules, "union")
        except InvalidParameterError as error:
            rename = lambda text: re.sub(r"union\[(\d+)\]", lambda match: names[int(match[1])], text)  # noqa: E731
            raise InvalidParameterError(rename(error.field), rename(error.message)) from None
        return rules

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

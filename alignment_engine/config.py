"""Generation settings: one frozen dataclass, validated when it is built."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


class InvalidParameterError(ValueError):
    """A generation parameter is out of range; `field` names it so callers can report it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Official Linear Alignment settings (Wizardcoast/Linear_Alignment, HH-RLHF generation): alpha ("ratio") 3.0,
# temperature 0.5, top_p 0.8, greedy, 512 new tokens. DEFAULT_ALPHA is chosen from bench/quality.py.
DEFAULT_ALPHA = 3.0
# The plausibility nucleus: 0.82, a little wider than the official 0.8. The rule (chosen on the tune half of
# bench/quality.py): the widest nucleus that keeps every rule-decoding reply sound on both backends, and costs
# under half of Linear Alignment's own perplexity over prompting (docs/engine.md, "The plausibility nucleus at
# realistic length"). Where the contrast turns a warm reply into "Awful." depends on the llama.cpp build: at 0.87
# on one machine, at 0.84 on another (which failed the rule tests at the earlier default 0.85), so the default keeps
# 0.02 of margin below the lowest edge seen.
DEFAULT_TOP_P = 0.82
# Bounds that keep the float32 arithmetic finite (a huge alpha or a tiny temperature overflow to NaN) and a seed
# that torch.Generator accepts.
MAX_ALPHA = 100.0
MIN_TEMPERATURE = 0.01
MAX_SEED = 2**63 - 1
# Repetition guard (alignment_engine/repetition.py). OpenAI's bounds for presence/frequency penalties; DRY's
# defaults were chosen on the tune half of bench/quality.py (docs/engine.md, "Repetition guard"): with this
# model the default llama.cpp breakers ("\n", ":", '"', "*") hide its loops from DRY, so there are none.
MAX_OPENAI_PENALTY = 2.0
DEFAULT_DRY_MULTIPLIER = 0.8
DEFAULT_DRY_BASE = 1.75
DEFAULT_DRY_ALLOWED_LENGTH = 2
DEFAULT_DRY_PENALTY_LAST_N = -1
MAX_DRY_MULTIPLIER = 100.0
MAX_DRY_BASE = 100.0
MAX_DRY_ALLOWED_LENGTH = 1024
MAX_DRY_SEQUENCE_BREAKERS = 32
MAX_DRY_BREAKER_LENGTH = 100
# The guard's bounds for the APIs' serializer fields (min_value/max_value), so they agree with _validate_guard.
GUARD_BOUNDS: dict[str, dict[str, float]] = {
    "presence_penalty": {"min_value": -MAX_OPENAI_PENALTY, "max_value": MAX_OPENAI_PENALTY},
    "frequency_penalty": {"min_value": -MAX_OPENAI_PENALTY, "max_value": MAX_OPENAI_PENALTY},
    "dry_multiplier": {"min_value": 0, "max_value": MAX_DRY_MULTIPLIER},
    "dry_base": {"min_value": 1, "max_value": MAX_DRY_BASE},
    "dry_allowed_length": {"min_value": 1, "max_value": MAX_DRY_ALLOWED_LENGTH},
    "dry_penalty_last_n": {"min_value": -1},
}
GUARD_FIELDS = (*GUARD_BOUNDS, "dry_sequence_breakers")
# Ending before the token budget (alignment_engine/ending.py): an end-of-turn bonus that grows to `end_bonus`
# logits over the last part of max_new_tokens, from `end_bonus_start` of it, at sentence ends only. Defaults
# chosen on the tune half of bench/quality.py (docs/engine.md, "Replies that end").
DEFAULT_END_BONUS = 10.0
DEFAULT_END_BONUS_START = 0.5
MAX_END_BONUS = 100.0
ENDING_BOUNDS: dict[str, dict[str, float]] = {
    "end_bonus": {"min_value": 0, "max_value": MAX_END_BONUS},
    "end_bonus_start": {"min_value": 0, "max_value": 1},
}
ENDING_FIELDS = tuple(ENDING_BOUNDS)


@dataclass(frozen=True)
class GenerationConfig:
    """Per-request decoding settings (see docs/engine.md for the official values)."""

    alpha: float = DEFAULT_ALPHA
    temperature: float = 0.5
    top_p: float = DEFAULT_TOP_P
    max_new_tokens: int = 256
    do_sample: bool = False
    seed: int | None = None
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    dry_multiplier: float = DEFAULT_DRY_MULTIPLIER
    dry_base: float = DEFAULT_DRY_BASE
    dry_allowed_length: int = DEFAULT_DRY_ALLOWED_LENGTH
    dry_penalty_last_n: int = DEFAULT_DRY_PENALTY_LAST_N
    dry_sequence_breakers: tuple[str, ...] = ()
    end_bonus: float = DEFAULT_END_BONUS
    end_bonus_start: float = DEFAULT_END_BONUS_START

    def __post_init__(self) -> None:
        for name in ("stop", "dry_sequence_breakers"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self._validate()

    @property
    def guard_on(self) -> bool:
        """Whether any repetition guard penalty (DRY, presence, frequency) is active."""
        dry = self.dry_multiplier > 0 and self.dry_penalty_last_n != 0
        return dry or self.presence_penalty != 0 or self.frequency_penalty != 0

    def _validate(self) -> None:
        _number("alpha", self.alpha)
        if not 0 <= self.alpha <= MAX_ALPHA:
            raise InvalidParameterError("alpha", f"must be in [0, {MAX_ALPHA:g}] (0 means plain prompting)")
        _number("temperature", self.temperature)
        if self.temperature < MIN_TEMPERATURE:
            raise InvalidParameterError("temperature", f"must be >= {MIN_TEMPERATURE:g}")
        _number("top_p", self.top_p)
        if not 0 < self.top_p <= 1:
            raise InvalidParameterError("top_p", "must be in (0, 1]")
        _integer("max_new_tokens", self.max_new_tokens)
        if self.max_new_tokens < 1:
            raise InvalidParameterError("max_new_tokens", "must be >= 1")
        if not isinstance(self.do_sample, bool):
            raise InvalidParameterError("do_sample", "must be a boolean")
        if self.seed is not None:
            _integer("seed", self.seed)
            if not 0 <= self.seed <= MAX_SEED:
                raise InvalidParameterError("seed", f"must be in [0, {MAX_SEED}]")
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s for s in self.stop):
            raise InvalidParameterError("stop", "must be a list of non-empty strings")
        _number("repetition_penalty", self.repetition_penalty)
        if self.repetition_penalty <= 0:
            raise InvalidParameterError("repetition_penalty", "must be > 0 (1.0 disables it)")
        _integer("no_repeat_ngram_size", self.no_repeat_ngram_size)
        if self.no_repeat_ngram_size < 0:
            raise InvalidParameterError("no_repeat_ngram_size", "must be >= 0 (0 disables it)")
        self._validate_guard()
        _number("end_bonus", self.end_bonus)
        if not 0 <= self.end_bonus <= MAX_END_BONUS:
            raise InvalidParameterError("end_bonus", f"must be in [0, {MAX_END_BONUS:g}] (0 switches it off)")
        _number("end_bonus_start", self.end_bonus_start)
        if not 0 <= self.end_bonus_start <= 1:
            raise InvalidParameterError("end_bonus_start", "must be in [0, 1] (a fraction of max_new_tokens)")

    def _validate_guard(self) -> None:
        for name in ("presence_penalty", "frequency_penalty"):
            _number(name, getattr(self, name))
            if not -MAX_OPENAI_PENALTY <= getattr(self, name) <= MAX_OPENAI_PENALTY:
                raise InvalidParameterError(name, f"must be in [-{MAX_OPENAI_PENALTY:g}, {MAX_OPENAI_PENALTY:g}]")
        _number("dry_multiplier", self.dry_multiplier)
        if not 0 <= self.dry_multiplier <= MAX_DRY_MULTIPLIER:
            raise InvalidParameterError("dry_multiplier", f"must be in [0, {MAX_DRY_MULTIPLIER:g}] (0 disables DRY)")
        _number("dry_base", self.dry_base)
        if not 1 <= self.dry_base <= MAX_DRY_BASE:
            raise InvalidParameterError("dry_base", f"must be in [1, {MAX_DRY_BASE:g}]")
        _integer("dry_allowed_length", self.dry_allowed_length)
        if not 1 <= self.dry_allowed_length <= MAX_DRY_ALLOWED_LENGTH:
            raise InvalidParameterError("dry_allowed_length", f"must be in [1, {MAX_DRY_ALLOWED_LENGTH}]")
        _integer("dry_penalty_last_n", self.dry_penalty_last_n)
        if self.dry_penalty_last_n < -1:
            raise InvalidParameterError("dry_penalty_last_n", "must be >= -1 (-1: the whole reply, 0: DRY off)")
        breakers = self.dry_sequence_breakers
        if not isinstance(breakers, tuple) or not all(isinstance(b, str) and b for b in breakers):
            raise InvalidParameterError("dry_sequence_breakers", "must be a list of non-empty strings")
        if len(breakers) > MAX_DRY_SEQUENCE_BREAKERS or any(len(b) > MAX_DRY_BREAKER_LENGTH for b in breakers):
            raise InvalidParameterError(
                "dry_sequence_breakers",
                f"at most {MAX_DRY_SEQUENCE_BREAKERS} strings of at most {MAX_DRY_BREAKER_LENGTH} characters",
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GenerationConfig:
        """Build from JSON-like data; unknown keys are an error, not silently dropped."""
        if not isinstance(values, dict):
            raise InvalidParameterError("config", "must be an object")
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise InvalidParameterError(str(key), "unknown generation parameter")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        data["dry_sequence_breakers"] = list(self.dry_sequence_breakers)
        return data


def _number(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(field, "must be a finite number")


def _integer(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(field, "must be an integer")

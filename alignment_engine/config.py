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
# Bounds that keep the float32 arithmetic finite (a huge alpha or a tiny temperature overflow to NaN) and a seed
# that torch.Generator accepts.
MAX_ALPHA = 100.0
MIN_TEMPERATURE = 0.01
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class GenerationConfig:
    """Per-request decoding settings (see docs/engine.md for the official values)."""

    alpha: float = DEFAULT_ALPHA
    temperature: float = 0.5
    top_p: float = 0.8
    max_new_tokens: int = 256
    do_sample: bool = False
    seed: int | None = None
    stop: tuple[str, ...] = ()
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif isinstance(self.stop, (list, tuple)):
            object.__setattr__(self, "stop", tuple(self.stop))
        self._validate()

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
        return data


def _number(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(field, "must be a finite number")


def _integer(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(field, "must be an integer")

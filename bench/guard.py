"""EXPERIMENTAL, benchmark only: a repetition guard wrapped around the engine's token choice by monkeypatching.

The engine's decode loop does not call `alignment_engine.repetition` yet (that integration belongs to the loop
and to GenerationConfig). To measure the guard before then, `guarded(settings)` temporarily wraps
  * `decoding.choose_tokens` (wherever the engine refers to it), only to see which requests (and their generated
    tokens) a step decides, and
  * `linear_alignment.aligned_probabilities`, to subtract the guard's penalties from the request's logits.
Placements:
  * "streams":  the penalty is subtracted from each stream before the combination. Because a request's stream
    coefficients sum to 1 this equals subtracting it from the combined logits z AND from the principle logits
    the plausibility mask is taken from (tests/engine/test_repetition.py checks the identity), which is how it
    is done here.
  * "combined": subtracted from z only; the top-p mask still comes from the unpenalised principle logits.
`end_rule=principle-top` also ends a reply whenever the end-of-turn token is the principle stream's top token
(see bench/ending.py). Nothing here is used outside bench/.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import torch

from alignment_engine import linear_alignment as la
from alignment_engine import repetition

PLACEMENTS = ("streams", "combined")
# "principle-top": end the reply whenever the end-of-turn token is the (penalised) principle stream's top token.
END_RULES = ("none", "principle-top")


@dataclass(frozen=True)
class GuardSettings:
    """One guard variant: DRY and/or OpenAI penalties, and where they act."""

    name: str = "off"
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_penalty_last_n: int = -1
    dry_breakers: tuple[str, ...] = repetition.DEFAULT_SEQUENCE_BREAKERS
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    placement: str = "streams"
    end_rule: str = "none"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}")
        if self.end_rule not in END_RULES:
            raise ValueError(f"end_rule must be one of {', '.join(END_RULES)}")

    @property
    def penalises(self) -> bool:
        return self.dry_multiplier != 0 or self.presence_penalty != 0 or self.frequency_penalty != 0

    @property
    def active(self) -> bool:
        return self.penalises or self.end_rule != "none"

    @classmethod
    def parse(cls, spec: str) -> GuardSettings:
        """ "NAME" or "NAME:key=value,key=value"; dry_breakers as a |-separated list of escaped strings
        (e.g. dry_breakers=\\n|:), "none" for no breakers."""
        name, _, rest = spec.partition(":")
        values: dict[str, Any] = {"name": name}
        types = {f.name: f.type for f in fields(cls)}
        for item in filter(None, rest.split(",")):
            key, _, raw = item.partition("=")
            if key not in types:
                raise ValueError(f"unknown guard setting {key!r} ({', '.join(types)})")
            if key == "dry_breakers":
                escaped = raw.split("|")
                values[key] = () if raw == "none" else tuple(p.encode().decode("unicode_escape") for p in escaped)
            elif key in ("placement", "end_rule"):
                values[key] = raw
            elif types[key] == "int":
                values[key] = int(raw)
            else:
                values[key] = float(raw)
        return cls(**values)


def request_penalties(settings: GuardSettings, tokens: Sequence[int], breakers: frozenset[int]) -> dict[int, float]:
    """DRY and OpenAI penalties of one request, summed per token."""
    total = dict(
        repetition.dry_penalties(
            tokens,
            settings.dry_multiplier,
            settings.dry_base,
            settings.dry_allowed_length,
            breakers,
            settings.dry_penalty_last_n,
        )
    )
    for token, amount in repetition.presence_frequency_penalties(
        tokens, settings.presence_penalty, settings.frequency_penalty
    ).items():
        total[token] = total.get(token, 0.0) + amount
    return total


_breaker_cache: dict[tuple[int, tuple[str, ...]], frozenset[int]] = {}


def breaker_ids(tokenizer: Any, vocab_size: int, breakers: tuple[str, ...]) -> frozenset[int]:
    key = (id(tokenizer), breakers)
    if key not in _breaker_cache:
        pieces = [tokenizer.decode([token], skip_special_tokens=False) for token in range(vocab_size)]
        _breaker_cache[key] = repetition.breaker_token_ids(pieces, breakers)
    return _breaker_cache[key]


@contextmanager
def patched_choose_tokens(wrap: Callable[[Callable], Callable]) -> Iterator[None]:
    """Replaces `decoding.choose_tokens` by wrap(it) in every engine module that refers to it."""
    from alignment_engine import decoding

    original = decoding.choose_tokens
    modules = [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("alignment_engine") and getattr(m, "choose_tokens", None) is original
    ]
    wrapped = wrap(original)
    for module in modules:
        module.choose_tokens = wrapped
    try:
        yield
    finally:
        for module in modules:
            module.choose_tokens = original


@contextmanager
def guarded(engine: Any, settings: GuardSettings) -> Iterator[None]:
    """Within the block, every token choice of `engine`'s backend applies `settings` (no-op when off)."""
    if not settings.active:
        yield
        return
    breakers = breaker_ids(engine.tokenizer, engine.vocab_size, settings.dry_breakers)
    end_tokens = torch.tensor(sorted(engine.eos_token_ids))
    end_token = min(engine.eos_token_ids)
    original_aligned = la.aligned_probabilities
    current: list[Any] = []

    def aligned_probabilities(combined, principle_logits, temperature, top_p, *rest):
        if settings.penalises and len(current) == combined.shape[0]:
            combined, principle_logits = combined.clone(), principle_logits.float().clone()
            for row, state in enumerate(current):
                penalties = request_penalties(settings, state.generated, breakers)
                if penalties:
                    combined[row] = repetition.subtract_penalties(combined[row], penalties)
                    if settings.placement == "streams":
                        principle_logits[row] = repetition.subtract_penalties(principle_logits[row], penalties)
        probabilities = original_aligned(combined, principle_logits, temperature, top_p, *rest)
        if settings.end_rule == "principle-top":
            ends = torch.isin(principle_logits.argmax(-1), end_tokens)
            if ends.any():
                probabilities = probabilities.clone()
                probabilities[ends] = 0.0
                probabilities[ends, end_token] = 1.0
        return probabilities

    def wrap(choose):
        def choose_tokens(logits: torch.Tensor, active, layout, vocab_size):
            current[:] = list(active)
            try:
                return choose(logits, active, layout, vocab_size)
            finally:
                current.clear()

        return choose_tokens

    la.aligned_probabilities = aligned_probabilities
    with patched_choose_tokens(wrap):
        try:
            yield
        finally:
            la.aligned_probabilities = original_aligned

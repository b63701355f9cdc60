"""Per-request logits processors: the plug-in point of the token choice (Hugging Face LogitsProcessor style).

Each step, `decoding.choose_tokens` combines a request's stream logits into z, takes the principle stream's
logits z_p (the source of the plausibility nucleus), and hands both rows to every processor of the request
in turn, with the tokens generated so far. A processor returns the two rows to use instead:

- a penalty (repetition guards) lowers logits of z, and of z_p where it should also shrink the nucleus;
- a mask (forbidden tokens, forced tokens, a length budget) sets logits to -inf in both, so the token is
  neither chosen nor counted in the nucleus.

The processors of a request are built once, from its settings, by `processors_for`. A request's rules
(`rules.py`) are one stateful processor, `RuleMask`, over its `constraints.RuleConstraints`: the decode loop
tells the constraints the token actually emitted (`decoding.RequestState.advance`: `resolve`, then `advance`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import torch

from alignment_engine import linear_alignment as la
from alignment_engine import repetition
from alignment_engine.constraints import RuleConstraints, Vocabulary
from alignment_engine.ending import BudgetEnding
from alignment_engine.types import GenerationRequest


class LogitsProcessor(Protocol):
    def __call__(
        self, generated: Sequence[int], combined: torch.Tensor, principle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(combined z [vocab], principle z_p [vocab]) after this processor, given the generated token ids."""
        ...


class NoRepeatNGram:
    """Tokens that would repeat an n-gram of the reply are removed from z and from the nucleus."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(
        self, generated: Sequence[int], combined: torch.Tensor, principle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        banned = la.banned_ngram_tokens(generated, self.size)
        if not banned:
            return combined, principle
        mask = torch.zeros(combined.shape[-1], dtype=torch.bool, device=combined.device)
        mask[banned] = True
        return combined.masked_fill(mask, float("-inf")), principle.masked_fill(mask, float("-inf"))


class RuleMask:
    """A request's rules on (z, z_p): forced tokens (opening, closing, end), else the allowed-token mask.

    The mask applies to the combined z and to the plausibility nucleus z_p, so a refused token is neither chosen
    nor counted in the nucleus. With a casing rule a refused token first lends its score to its twin in the
    allowed case (" The" -> " the"). When no allowed token is left with a finite score in both rows (another
    processor removed them all), the best allowed token is forced. Runs last: nothing after it can undo a rule.
    """

    def __init__(self, constraints: RuleConstraints) -> None:
        self.constraints = constraints

    def __call__(
        self, generated: Sequence[int], combined: torch.Tensor, principle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        forced = self.constraints.forced_token()
        if forced is not None:
            return _only(combined, forced), _only(principle, forced)
        mask = self.constraints.allowed_mask()
        combined, principle = self.constraints.redirect(combined), self.constraints.redirect(principle)
        if mask is None:
            return combined, principle
        combined, principle = combined.masked_fill(~mask, float("-inf")), principle.masked_fill(~mask, float("-inf"))
        top = int(principle.argmax())
        if not (bool(torch.isfinite(principle[top])) and bool(torch.isfinite(combined[top]))):
            best = int(combined.nan_to_num(neginf=-1e30).masked_fill(~mask, float("-inf")).argmax())
            return _only(combined, best), _only(principle, best)
        return combined, principle


def _only(row: torch.Tensor, token: int) -> torch.Tensor:
    forced = torch.full_like(row, float("-inf"))
    forced[token] = 0.0
    return forced


def rule_constraints(
    request: GenerationRequest,
    tokenizer: Any,
    vocab_size: int,
    eos_token_ids: Iterable[int],
    device: torch.device | str = "cpu",
) -> RuleConstraints | None:
    """The constraint state of the request's rules (None without rules). The tokenizer's own end-of-turn
    token is the one forced at the end; InvalidParameterError when the rules cannot all be kept."""
    rules = request.enforced_rules()
    if not rules:
        return None
    order = end_tokens_in_order(tokenizer, eos_token_ids)
    vocabulary = Vocabulary.from_tokenizer(tokenizer, size=vocab_size)
    return RuleConstraints(rules, vocabulary, order, request.config.max_new_tokens, device)


def end_tokens_in_order(tokenizer: Any, eos_token_ids: Iterable[int]) -> list[int]:
    """The end-of-turn ids, the tokenizer's own first (the one forced or favoured when a reply should end)."""
    eos = set(eos_token_ids)
    preferred = getattr(tokenizer, "eos_token_id", None)
    order = [preferred] if preferred in eos else []
    return order + sorted(eos - set(order))


def budget_ending(request: GenerationRequest, tokenizer: Any, eos_token_ids: Iterable[int]) -> BudgetEnding | None:
    """The request's end-of-turn bonus near its token budget (None when off or without an end token)."""
    config = request.config
    ends = end_tokens_in_order(tokenizer, eos_token_ids)
    if config.end_bonus <= 0 or not ends or tokenizer is None:
        return None
    return BudgetEnding(
        functools.partial(tokenizer.decode, skip_special_tokens=True),
        ends[0],
        config.max_new_tokens,
        config.end_bonus,
        config.end_bonus_start,
    )


def guard_breaker_ids(tokenizer: Any, breakers: tuple[str, ...]) -> frozenset[int]:
    """Ids of the tokens whose text holds a DRY sequence breaker, from the tokenizer's own vocabulary (built
    once per tokenizer: `Vocabulary.from_tokenizer` caches it, and the ids per breaker list with it)."""
    if not breakers:
        return frozenset()
    vocabulary = Vocabulary.from_tokenizer(tokenizer)

    def build() -> frozenset[int]:
        pieces = [
            "" if token in vocabulary.special_ids else piece.decode("utf-8", errors="replace")
            for token, piece in enumerate(vocabulary.token_bytes)
        ]
        return repetition.breaker_token_ids(pieces, breakers)

    return vocabulary.row(("dry_sequence_breakers", breakers), build)


def repetition_guard(request: GenerationRequest, tokenizer: Any = None) -> repetition.RepetitionGuard | None:
    """The request's repetition guard (None when its settings switch every penalty off). Sequence breakers
    need the tokenizer to find their token ids."""
    config = request.config
    if not config.guard_on:
        return None
    if config.dry_sequence_breakers and tokenizer is None:
        raise ValueError("dry_sequence_breakers need the tokenizer")
    return repetition.RepetitionGuard(
        presence_penalty=config.presence_penalty,
        frequency_penalty=config.frequency_penalty,
        dry_multiplier=config.dry_multiplier,
        dry_base=config.dry_base,
        dry_allowed_length=config.dry_allowed_length,
        dry_penalty_last_n=config.dry_penalty_last_n,
        breaker_ids=guard_breaker_ids(tokenizer, config.dry_sequence_breakers),
    )


def processors_for(
    request: GenerationRequest,
    constraints: RuleConstraints | None = None,
    tokenizer: Any = None,
    eos_token_ids: Iterable[int] = (),
) -> list[LogitsProcessor]:
    """The processors a request's settings ask for, in the order they run (its repetition guard first, then the
    end-of-turn bonus near the budget, its rules last)."""
    processors: list[LogitsProcessor] = []
    guard = repetition_guard(request, tokenizer)
    if guard is not None:
        processors.append(guard)
    if request.config.no_repeat_ngram_size:
        processors.append(NoRepeatNGram(request.config.no_repeat_ngram_size))
    ending = budget_ending(request, tokenizer, eos_token_ids)
    if ending is not None:
        processors.append(ending)
    if constraints is not None:
        processors.append(RuleMask(constraints))
    return processors

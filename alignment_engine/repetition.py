"""Repetition guards as pure functions: DRY and OpenAI's presence/frequency penalties.

Both subtract a per-token amount from next-token logits, computed from the tokens generated so far:

    OpenAI:  logit[j] -= c[j] * frequency_penalty + (c[j] > 0) * presence_penalty
             c[j] = how often token j occurs in the generated tokens
    DRY:     logit[j] -= multiplier * base ** (L[j] - allowed_length)      when L[j] >= allowed_length
             L[j] = length of the longest sequence that ends the window and also occurs earlier in it
                    immediately followed by j (so emitting j would repeat a sequence of length L[j] + 1)

DRY ("don't repeat yourself", p-e-w's sampler in text-generation-webui, ported to llama.cpp via koboldcpp)
follows llama.cpp's `llama_sampler_dry_apply`: the window is the last `penalty_last_n` generated tokens (-1:
all of them, 0: DRY off); matching stops at the last sequence breaker of the window (no match may cross it),
breaker tokens themselves are never penalised, and the exponent is clamped so the penalty stays finite.
Breakers are token ids here; `breaker_token_ids` maps breaker strings to the ids of every token whose text
contains one, llama.cpp's rule for single-token breakers.

Because every penalty is additive and a request's Linear Alignment stream coefficients sum to 1, subtracting
the same penalty from each stream before the combination equals subtracting it from the combined logits z and
from the principle logits that the plausibility mask is taken from.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence

import torch

# llama.cpp's defaults for DRY's sequence breakers.
DEFAULT_SEQUENCE_BREAKERS = ("\n", ":", '"', "*")
# log(float32 max): base ** exponent stays finite below this.
FLOAT32_MAX_LOG = 88.7228391


def dry_window(tokens: Sequence[int], penalty_last_n: int) -> list[int]:
    """The tokens DRY looks at: the last `penalty_last_n` of `tokens` (-1: all, 0: none)."""
    if penalty_last_n < -1:
        raise ValueError("penalty_last_n must be >= -1 (-1: every generated token, 0: off)")
    if penalty_last_n == 0:
        return []
    return list(tokens) if penalty_last_n == -1 else list(tokens[-penalty_last_n:])


def z_function(sequence: Sequence[int]) -> list[int]:
    """z[k] = length of the longest common prefix of `sequence` and `sequence[k:]` (z[0] = 0), in O(n)."""
    size = len(sequence)
    z = [0] * size
    left = right = 0  # the rightmost match found so far is sequence[left:right]
    for k in range(1, size):
        if k < right:
            z[k] = min(right - k, z[k - left])
        while k + z[k] < size and sequence[z[k]] == sequence[k + z[k]]:
            z[k] += 1
        if k + z[k] > right:
            left, right = k, k + z[k]
    return z


def dry_repeat_lengths(
    tokens: Sequence[int],
    allowed_length: int,
    sequence_breakers: Collection[int] = (),
    penalty_last_n: int = -1,
) -> dict[int, int]:
    """For every token that would extend a repeat: the longest repeated length L it would extend (L >= allowed).

    A repeat is a suffix of the window that also ends earlier in it; the token after that earlier end is the
    one that would continue it. Suffixes never reach back past the window's last sequence breaker.
    """
    if allowed_length < 1:
        raise ValueError("allowed_length must be >= 1")
    window = dry_window(tokens, penalty_last_n)
    size = len(window)
    if size <= allowed_length:
        return {}
    repeat_limit = size
    for distance, token in enumerate(reversed(window)):
        if token in sequence_breakers:
            repeat_limit = distance  # tokens after the last breaker
            break
    if repeat_limit < allowed_length:
        return {}
    reversed_window = window[::-1]
    matches = z_function(reversed_window)
    longest: dict[int, int] = {}
    for shift in range(1, size):
        # window[size - 1 - shift - m] == window[size - 1 - m] for m < matches[shift]: a repeat ending at
        # position size - 1 - shift, continued by the token right after it.
        length = min(matches[shift], repeat_limit)
        if length >= allowed_length:
            following = window[size - shift]
            if length > longest.get(following, 0):
                longest[following] = length
    return longest


def dry_penalties(
    tokens: Sequence[int],
    multiplier: float,
    base: float,
    allowed_length: int,
    sequence_breakers: Collection[int] = (),
    penalty_last_n: int = -1,
) -> dict[int, float]:
    """Token id -> amount DRY subtracts from its logit (tokens absent are not penalised).

    Off (empty) when multiplier is 0, base < 1 or penalty_last_n is 0, as in llama.cpp.
    """
    if multiplier < 0:
        raise ValueError("multiplier must be >= 0 (0: off)")
    if multiplier == 0 or base < 1 or penalty_last_n == 0:
        return {}
    max_exponent = int(FLOAT32_MAX_LOG / math.log(base)) if base > 1.000001 else 0
    penalties = {}
    for token, length in dry_repeat_lengths(tokens, allowed_length, sequence_breakers, penalty_last_n).items():
        if token in sequence_breakers:
            continue
        exponent = length - allowed_length
        if max_exponent > 0:
            exponent = min(exponent, max_exponent)
        penalties[token] = multiplier * base**exponent
    return penalties


def presence_frequency_penalties(
    tokens: Sequence[int], presence_penalty: float, frequency_penalty: float
) -> dict[int, float]:
    """Token id -> amount OpenAI's penalties subtract: count * frequency_penalty + presence_penalty for every
    token that occurs in `tokens` (the generated tokens; the prompt is not counted). Negative values reward."""
    if presence_penalty == 0 and frequency_penalty == 0:
        return {}
    return {token: count * frequency_penalty + presence_penalty for token, count in Counter(tokens).items()}


def subtract_penalties(logits: torch.Tensor, penalties: dict[int, float]) -> torch.Tensor:
    """logits [..., vocab] minus the penalties on the last axis (a new tensor; ids beyond vocab are ignored)."""
    vocab_size = logits.shape[-1]
    items = [(token, amount) for token, amount in penalties.items() if 0 <= token < vocab_size]
    if not items:
        return logits
    ids = torch.tensor([token for token, _ in items], dtype=torch.long, device=logits.device)
    amounts = torch.tensor([amount for _, amount in items], dtype=logits.dtype, device=logits.device)
    return subtract_at(logits, ids, amounts)


def subtract_at(logits: torch.Tensor, ids: torch.Tensor, amounts: torch.Tensor) -> torch.Tensor:
    """logits [..., vocab] with `amounts` subtracted at the (distinct) `ids` of the last axis (a new tensor)."""
    penalised = logits.clone()
    penalised[..., ids] = penalised[..., ids] - amounts
    return penalised


def apply_dry(
    logits: torch.Tensor,
    tokens: Sequence[int],
    multiplier: float,
    base: float = 1.75,
    allowed_length: int = 2,
    sequence_breakers: Collection[int] = (),
    penalty_last_n: int = -1,
) -> torch.Tensor:
    """DRY on logits [..., vocab] given the generated `tokens` (llama.cpp's defaults for base and length)."""
    penalties = dry_penalties(tokens, multiplier, base, allowed_length, sequence_breakers, penalty_last_n)
    return subtract_penalties(logits, penalties)


def apply_presence_frequency(
    logits: torch.Tensor, tokens: Sequence[int], presence_penalty: float, frequency_penalty: float
) -> torch.Tensor:
    """OpenAI's presence and frequency penalties on logits [..., vocab] over the generated `tokens`."""
    return subtract_penalties(logits, presence_frequency_penalties(tokens, presence_penalty, frequency_penalty))


def breaker_token_ids(pieces: Sequence[str], breakers: Sequence[str] = DEFAULT_SEQUENCE_BREAKERS) -> frozenset[int]:
    """Ids of the tokens whose text (`pieces[id]`, the decoded token) contains any breaker string."""
    wanted = [breaker for breaker in breakers if breaker]
    return frozenset(token for token, piece in enumerate(pieces) if any(b in piece for b in wanted))


class RepetitionGuard:
    """A request's guard as a logits processor (`processors.LogitsProcessor`): OpenAI's presence/frequency and
    DRY penalties over the generated tokens, subtracted from both the combined z and the principle z_p (in
    place: pass distinct rows that the caller owns, as `decoding.choose_tokens` does).

    Subtracting from z_p too is the "streams" placement (the same as penalising every stream before the
    mixing, whose coefficients sum to 1): the plausibility nucleus then shrinks with the penalty. Penalising
    z alone leaves a loop's token as the nucleus' only member, so the guard could not act (docs/engine.md).
    """

    def __init__(
        self,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        dry_multiplier: float = 0.0,
        dry_base: float = 1.75,
        dry_allowed_length: int = 2,
        dry_penalty_last_n: int = -1,
        breaker_ids: Collection[int] = frozenset(),
    ) -> None:
        self.presence_penalty = presence_penalty
        self.frequency_penalty = frequency_penalty
        self.dry_multiplier = dry_multiplier
        self.dry_base = dry_base
        self.dry_allowed_length = dry_allowed_length
        self.dry_penalty_last_n = dry_penalty_last_n
        self.breaker_ids = frozenset(breaker_ids)

    def penalties(self, generated: Sequence[int]) -> dict[int, float]:
        """Token id -> total amount subtracted at this step (OpenAI's and DRY's added up)."""
        total = presence_frequency_penalties(generated, self.presence_penalty, self.frequency_penalty)
        dry = dry_penalties(
            generated,
            self.dry_multiplier,
            self.dry_base,
            self.dry_allowed_length,
            self.breaker_ids,
            self.dry_penalty_last_n,
        )
        for token, amount in dry.items():
            total[token] = total.get(token, 0.0) + amount
        return total

    def __call__(
        self, generated: Sequence[int], combined: torch.Tensor, principle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not generated:
            return combined, principle
        vocab_size = combined.shape[-1]
        items = [(token, amount) for token, amount in self.penalties(generated).items() if 0 <= token < vocab_size]
        if not items:
            return combined, principle
        ids = torch.tensor([token for token, _ in items], dtype=torch.long, device=combined.device)
        amounts = torch.tensor([amount for _, amount in items], dtype=combined.dtype, device=combined.device)
        # In place, on the few penalised entries only: the rows are the decode step's own (choose_tokens makes
        # them fresh each step), and copying a whole vocabulary row costs more than the guard itself.
        combined.index_put_((ids,), combined[ids] - amounts)
        principle.index_put_((ids,), principle[ids] - amounts.to(principle.dtype))
        return combined, principle

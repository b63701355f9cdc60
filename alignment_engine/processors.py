"""Per-request logits processors: the plug-in point of the token choice (Hugging Face LogitsProcessor style).

Each step, `decoding.choose_tokens` combines a request's stream logits into z, takes the principle stream's
logits z_p (the source of the plausibility nucleus), and hands both rows to every processor of the request
in turn, with the tokens generated so far. A processor returns the two rows to use instead:

- a penalty (repetition guards) lowers logits of z, and of z_p where it should also shrink the nucleus;
- a mask (forbidden tokens, forced tokens, a length budget) sets logits to -inf in both, so the token is
  neither chosen nor counted in the nucleus.

The processors of a request are built once, from its settings, by `processors_for`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from alignment_engine import linear_alignment as la
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


def processors_for(request: GenerationRequest) -> list[LogitsProcessor]:
    """The processors a request's settings ask for, in the order they run."""
    processors: list[LogitsProcessor] = []
    if request.config.no_repeat_ngram_size:
        processors.append(NoRepeatNGram(request.config.no_repeat_ngram_size))
    return processors

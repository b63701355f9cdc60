"""Replies that end before their token budget: an end-of-turn bonus over the budget's last part, at sentence ends.

Why replies run to the limit (measured with `bench/ending.py` and `bench/quality.py`, docs/engine.md "Replies that
end"): the default model does not plan for a budget it cannot see. On the open questions of the personal-preference
set its natural answer is longer than 256 tokens with or without a principle, and once the repetition guard stops
it from looping it keeps writing new text; the end-of-turn token is rarely the principle stream's top token, and
the contrast z_p - z_0 does not push it down. So the reply is cut mid-sentence at `max_new_tokens`.

The fix tells the decoder about the budget. Like Hugging Face's `ExponentialDecayLengthPenalty` (transformers'
`exponential_decay_length_penalty=(start_index, decay_factor)`, which raises the end-of-sequence score as a reply
grows past a start index so that it ends before the hard limit), a bonus is added to the end-of-turn logit once
the reply has used `start` of its budget, growing linearly to `bonus` logits at the budget's end:

    bonus(t) = bonus * (t - s + 1) / (B - s)    for s <= t < B,  s = ceil(start * B),  B = max_new_tokens
    (t: tokens generated so far; the full bonus at the budget's last token)

Unlike it, the bonus is given only right after a sentence or a line ends (`ends_sentence`), so the model is
offered to stop where stopping reads as an ending, never mid-sentence or after "Here are some tips:", and it is
added to both the combined z and the principle z_p (the plausibility nucleus is taken from z_p, so the end token
can enter it). The model still chooses: the reply ends when the end token becomes the best-scored token of the
rule, and a reply that ends earlier on its own is untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from alignment_engine.rules import SENTENCE_CLOSERS, SENTENCE_END

# Tokens of the reply's end decoded to find a sentence end (enough for a closer after it and trailing blanks).
TAIL_TOKENS = 4


def ends_sentence(text: str) -> bool:
    """Whether a reply ending in `text` ends at a sentence or line end where stopping reads as an ending.

    A sentence end (". ! ? ...", optionally followed by closing quotes or brackets), not after a digit ("1." opens
    a numbered item, "3." may go on as "3.5"); or a line end after text that does not introduce more (not ":").
    """
    stripped = text.rstrip(" \t")
    if not stripped:
        return False
    line_ended = stripped.endswith("\n")
    body = stripped.rstrip()
    if not body:
        return False
    end = len(body)
    while end and body[end - 1] in SENTENCE_CLOSERS:
        end -= 1
    if end and body[end - 1] in SENTENCE_END:
        return not (end >= 2 and body[end - 2].isdigit())
    return line_ended and body[-1] not in ":,;-*+•"


def end_bonus_at(generated: int, budget: int, bonus: float, start: float) -> float:
    """The end-of-turn bonus after `generated` tokens of a `budget` (0 before the start of its last part)."""
    if bonus <= 0 or budget <= 0:
        return 0.0
    first = math.ceil(start * budget)
    if generated < first or first >= budget:
        return 0.0
    return bonus * (generated - first + 1) / (budget - first)


class BudgetEnding:
    """The end-of-turn bonus as a logits processor (`processors.LogitsProcessor`), on z and z_p in place.

    `decode(ids)` is the tokenizer's text of token ids (called only once the bonus has started); `end_token` the
    id the bonus goes to.
    """

    def __init__(
        self, decode: Callable[[list[int]], str], end_token: int, budget: int, bonus: float, start: float
    ) -> None:
        self.decode = decode
        self.end_token = end_token
        self.budget = budget
        self.bonus = bonus
        self.start = start
        self.last_bonus = 0.0  # the bonus given at the latest step (0: none), for measurements

    def __call__(
        self, generated: Sequence[int], combined: torch.Tensor, principle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        amount = end_bonus_at(len(generated), self.budget, self.bonus, self.start)
        if amount <= 0 or not ends_sentence(self.decode(list(generated[-TAIL_TOKENS:]))):
            self.last_bonus = 0.0
            return combined, principle
        self.last_bonus = amount
        combined[self.end_token] += amount
        principle[self.end_token] += amount
        return combined, principle

"""The principle token budget: a user's applied principles may take at most PRINCIPLE_TOKEN_BUDGET tokens of the
model's window, so a conversation always has room.

Every applied principle (active, weight > 0) goes into the system message of the principle stream of every reply.
Without a ceiling, enough long principles make every request exceed the model's context and fail. The policy is
to refuse the write that would pass the budget (409 `principle_token_budget`, naming the budget), never to drop
principles silently at generation time. A write that does not raise the user's total (deactivating, shortening,
lowering a weight to 0) is always allowed, so a user who is over the budget (e.g. after the budget was lowered)
can always get back under it.

Tokens are estimated here, without loading the model's tokenizer in the web process: UTF-8 bytes / 3, rounded up,
plus the list marker each principle gets. The default model's byte-level BPE averages about 4 bytes per token on
English, so the estimate errs on the side of counting more. The default budget, 2048 tokens, is a quarter of
SmolLM2's 8192-token window. A prompt that still does not fit (a very long conversation) is refused by the engine,
and the client gets a 400 with the reason.
"""

from __future__ import annotations

import math

from django.conf import settings

from core.exceptions import LimitExceeded
from preferences.models import Principle

BYTES_PER_TOKEN = 3
TOKENS_PER_PRINCIPLE = 3  # "- " and the line break of the list the principles are placed in


def principle_tokens(text: str) -> int:
    """The estimated tokens one principle takes in the prompt."""
    return math.ceil(len(text.strip().encode("utf-8")) / BYTES_PER_TOKEN) + TOKENS_PER_PRINCIPLE


def _applied_tokens(*, text: str, weight: float, active: bool) -> int:
    return principle_tokens(text) if active and float(weight) > 0 else 0


def principle_budget_check(
    *,
    owner_id: int,
    text: str,
    weight: float,
    active: bool,
    principle_id: int | None = None,
) -> None:
    """Refuse (409) a write that would leave the owner's applied principles over the token budget.

    ``text``, ``weight`` and ``active`` are the principle as the write leaves it; ``principle_id`` is the principle
    being changed (None for a new one). Call it inside the write's transaction, with the owner locked.
    """
    budget = settings.PRINCIPLE_TOKEN_BUDGET
    others = Principle.objects.filter(owner_id=owner_id, active=True, weight__gt=0)
    current = None
    if principle_id is not None:
        current = others.filter(pk=principle_id).values_list("text", flat=True).first()
        others = others.exclude(pk=principle_id)
    used_by_others = sum(principle_tokens(other) for other in others.values_list("text", flat=True))
    after = used_by_others + _applied_tokens(text=text, weight=weight, active=active)
    before = used_by_others + (principle_tokens(current) if current is not None else 0)
    if after > budget and after > before:
        raise LimitExceeded(
            f"Your active principles would take about {after} tokens of the model's window; the principle token "
            f"budget is {budget} tokens. Shorten or deactivate a principle first.",
            code="principle_token_budget",
            fields={
                "text": [f"Active principles may take at most {budget} tokens in all (about {after} with this one)."]
            },
        )

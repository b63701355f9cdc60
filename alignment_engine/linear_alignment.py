"""The Linear Alignment decoding step as pure tensor functions (no model, no state).

Per token, with z_p the logits conditioned on the principle(s) and z_0 the logits without them:

    z    = z_p + alpha * (z_p - z_0)
    p    = softmax(z / T) restricted to the top-p nucleus of softmax(z_p / T), renormalised
    next = argmax(p) or a sample from p

Every function works on a batch of rows so one call serves many requests. The engine keeps its
streams as rows of one forward pass; a *mixing matrix* turns stream logits into combined logits,
which covers the paper's two-stream rule (coefficients [1 + alpha, -alpha]) and the weighted
multi-principle extension alike: it is the implementation. The rule as the paper writes it stays in
`tests/engine/reference.py`, the oracle the mixing is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# The nucleus is found among this many top tokens first; rows whose top tokens do not reach top_p
# fall back to a full sort. Exact either way, much cheaper than sorting the vocabulary every step.
NUCLEUS_CANDIDATES = 256


@dataclass(frozen=True)
class StreamTerm:
    """One stream of a request: the principles in its system slot and its coefficient in the mixing.

    `principles` holds indices into the request's principles; None is the conversation as given (a request
    without principles), () the plain stream (the slot left empty).
    """

    principles: tuple[int, ...] | None
    coefficient: float


def uses_per_principle_streams(weights: Sequence[float]) -> bool:
    """Unequal weights need one stream per principle; otherwise the paper's two streams suffice."""
    return len(weights) > 1 and len(set(weights)) > 1


def contrast_needed(alpha: float, weights: Sequence[float]) -> bool:
    """Whether the plain (and per-principle) streams change anything. Without principles there is nothing to
    contrast; with alpha 0 their coefficients are all 0, the rule is plain prompting and the principle stream
    alone is decoded."""
    return alpha != 0 and len(weights) > 0


def stream_terms(alpha: float, weights: Sequence[float]) -> list[StreamTerm]:
    """The streams of one request and their coefficients, ordered [all principles, plain, *each principle].

    Equal weights w (the usual case, w = 1): z = z_P + alpha*w*(z_P - z_0), the paper's rule with all
    principles in one system message. Unequal weights (beyond the paper): z = z_P + alpha/n * sum_i
    w_i*(z_i - z_0), where z_i has principle i alone in the slot. Without principles, or with alpha 0, one
    stream with coefficient 1.
    """
    everything = tuple(range(len(weights)))
    if not weights:
        return [StreamTerm(None, 1.0)]
    if not contrast_needed(alpha, weights):
        return [StreamTerm(everything, 1.0)]
    if not uses_per_principle_streams(weights):
        step = alpha * weights[0]
        return [StreamTerm(everything, 1.0 + step), StreamTerm((), -step)]
    count = len(weights)
    return [
        StreamTerm(everything, 1.0),
        StreamTerm((), -alpha * sum(weights) / count),
        *(StreamTerm((index,), alpha * weight / count) for index, weight in enumerate(weights)),
    ]


def stream_coefficients(alpha: float, weights: Sequence[float]) -> list[float]:
    """The coefficients of `stream_terms`, in stream order."""
    return [term.coefficient for term in stream_terms(alpha, weights)]


def mixing_matrix(coefficients: Sequence[Sequence[float]], device: torch.device | str = "cpu") -> torch.Tensor:
    """Block-diagonal [requests, rows] matrix: request i mixes its own consecutive stream rows."""
    total_rows = sum(len(c) for c in coefficients)
    matrix = torch.zeros(len(coefficients), total_rows, dtype=torch.float32)
    row = 0
    for index, request_coefficients in enumerate(coefficients):
        matrix[index, row : row + len(request_coefficients)] = torch.tensor(request_coefficients, dtype=torch.float32)
        row += len(request_coefficients)
    return matrix.to(device)


def combine_streams(stream_logits: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """[rows, vocab] stream logits -> [requests, vocab] combined logits z."""
    return mixing @ stream_logits.float()


def combine_logits(principle_logits: torch.Tensor, plain_logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """`combine_streams` for rows of the paper's two streams (one principle of weight 1): z per row."""
    coefficients = stream_coefficients(alpha, [1.0])
    streams = torch.stack([principle_logits, plain_logits][: len(coefficients)], dim=1).flatten(0, 1)
    mixing = mixing_matrix([coefficients] * principle_logits.shape[0], device=principle_logits.device)
    return combine_streams(streams, mixing)


def plausibility_mask(principle_logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Top-p nucleus of softmax(z_p / T) per row (bool [rows, vocab]); always keeps the top token."""
    probs = torch.softmax(principle_logits.float() / temperature[:, None], dim=-1)
    keep = torch.zeros_like(probs, dtype=torch.bool)
    candidates = min(NUCLEUS_CANDIDATES, probs.shape[-1])
    top_probs, top_ids = probs.topk(candidates, dim=-1)
    mass_before = top_probs.cumsum(-1) - top_probs
    keep_top = mass_before < top_p[:, None]
    keep_top[:, 0] = True
    keep.scatter_(-1, top_ids, keep_top)
    uncovered = (top_probs.sum(-1) < top_p) & (top_p < 1)
    for row in uncovered.nonzero().flatten().tolist():
        sorted_probs, sorted_ids = probs[row].sort(descending=True)
        keep_sorted = (sorted_probs.cumsum(-1) - sorted_probs) < top_p[row]
        keep_sorted[0] = True
        keep[row] = torch.zeros_like(keep_sorted).scatter(-1, sorted_ids, keep_sorted)
    keep[top_p >= 1] = True
    return keep


def aligned_probabilities(
    combined_logits: torch.Tensor,
    principle_logits: torch.Tensor,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    banned: torch.Tensor | None = None,
) -> torch.Tensor:
    """softmax(z / T) masked by the principle nucleus and renormalised; `banned` tokens get 0."""
    principle_logits = principle_logits.float()
    combined_logits = combined_logits.float()
    if banned is not None:
        principle_logits = principle_logits.masked_fill(banned, float("-inf"))
        combined_logits = combined_logits.masked_fill(banned, float("-inf"))
    keep = plausibility_mask(principle_logits, temperature, top_p)
    masked = (combined_logits / temperature[:, None]).masked_fill(~keep, float("-inf"))
    return torch.softmax(masked, dim=-1)


def select_tokens(
    probabilities: torch.Tensor,
    do_sample: Sequence[bool],
    generators: Sequence[torch.Generator | None],
) -> torch.Tensor:
    """Greedy argmax per row, or one draw with that row's own generator (reproducible per request)."""
    tokens = probabilities.argmax(dim=-1)
    for row, sample in enumerate(do_sample):
        if sample:
            tokens[row] = torch.multinomial(probabilities[row], 1, generator=generators[row])[0]
    return tokens


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """CTRL-style penalty on already generated tokens: positive logits divided, negative multiplied."""
    penalty = penalty[:, None].to(logits.dtype)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def banned_ngram_tokens(tokens: Sequence[int], size: int) -> list[int]:
    """Tokens that would repeat an n-gram of `size` already present in `tokens`."""
    if size <= 0 or len(tokens) < size:
        return []
    prefix = tuple(tokens[len(tokens) - size + 1 :])
    banned = []
    for start in range(len(tokens) - size + 1):
        if tuple(tokens[start : start + size - 1]) == prefix:
            banned.append(tokens[start + size - 1])
    return banned

"""The paper's two-stream rule, written as the paper and the official code state it: the oracle the engine's
mixing-matrix implementation (`alignment_engine.linear_alignment`) is tested against."""

from __future__ import annotations

import torch

from alignment_engine import linear_alignment as la


def combine_logits(
    principle_logits: torch.Tensor, plain_logits: torch.Tensor, alpha: torch.Tensor | float
) -> torch.Tensor:
    """z = z_p + alpha * (z_p - z_0); alpha per row or scalar."""
    alpha = torch.as_tensor(alpha, dtype=torch.float32, device=principle_logits.device)
    if alpha.dim() == 1:
        alpha = alpha[:, None]
    principle_logits = principle_logits.float()
    return principle_logits + alpha * (principle_logits - plain_logits.float())


def linear_alignment_step(
    principle_logits: torch.Tensor,
    plain_logits: torch.Tensor,
    alpha: torch.Tensor | float,
    temperature: torch.Tensor | float,
    top_p: torch.Tensor | float,
) -> torch.Tensor:
    """The whole per-token rule for two-stream rows: the next-token distribution [rows, vocab]."""
    rows = principle_logits.shape[0]
    device = principle_logits.device
    temperature = torch.as_tensor(temperature, dtype=torch.float32, device=device).expand(rows)
    top_p = torch.as_tensor(top_p, dtype=torch.float32, device=device).expand(rows)
    combined = combine_logits(principle_logits, plain_logits, alpha)
    return la.aligned_probabilities(combined, principle_logits, temperature, top_p)

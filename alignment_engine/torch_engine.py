"""The torch/transformers backend: every stream of every request is a row of one batched forward pass.

`TorchRunner` is the model runner of the shared decode loop (`scheduler.py`): left-padded prefill with explicit
position ids and last-position logits only, one `DynamicCache` for the whole round, one token per row per step,
and a finished request's rows dropped from the cache at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from alignment_engine.decoding import RequestState, row_spans
from alignment_engine.scheduler import BatchedEngine, BatchLimits

# Requests are decoded together up to this many rows (streams) per forward pass; more wait for a next round.
MAX_BATCH_ROWS = 64
# KV cache one round may fill (every row gets room for its request's longest prompt + max_new_tokens).
MAX_KV_BYTES = 2 << 30


@dataclass
class _Round:
    """The KV cache and per-row tensors of the requests being decoded, rows in `states` order."""

    states: list[RequestState]
    cache: DynamicCache
    attention_mask: torch.Tensor
    next_positions: torch.Tensor


class TorchRunner:
    """Forward passes of a transformers causal LM over the rows of a round."""

    backend = "torch"
    token_choice_threads = None

    def __init__(self, model: Any, pad_token_id: int, device: str, context_length: int | None = None) -> None:
        self.model = model
        self.device = device
        self.pad_token_id = pad_token_id
        config = model.config
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        self.context_length = context_length or getattr(config, "max_position_embeddings", None) or 2**31 - 1
        head_size = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        element_size = torch.empty((), dtype=model.dtype).element_size()
        self.kv_bytes_per_token = 2 * config.num_hidden_layers * kv_heads * head_size * element_size
        self._round: _Round | None = None

    @torch.inference_mode()
    def prefill(self, active: Sequence[RequestState], tokens_per_row: int) -> torch.Tensor:
        rows = [stream for state in active for stream in state.streams]
        input_ids, attention_mask = self._left_pad(rows)
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        output = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self._round = _Round(list(active), cache, attention_mask, attention_mask.sum(-1, keepdim=True))
        return output.logits[:, -1, :]

    @torch.inference_mode()
    def step(self, active: Sequence[RequestState]) -> torch.Tensor:
        current = self._round
        last_tokens = [state.generated[-1] for state in active for _ in range(state.rows)]
        row_tokens = torch.tensor(last_tokens, device=self.device)
        mask = current.attention_mask
        current.attention_mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        output = self.model(
            input_ids=row_tokens[:, None],
            attention_mask=current.attention_mask,
            position_ids=current.next_positions,
            past_key_values=current.cache,
            use_cache=True,
        )
        current.next_positions = current.next_positions + 1
        return output.logits[:, -1, :]

    @torch.inference_mode()
    def release(self, finished: Sequence[RequestState]) -> None:
        current = self._round
        if current is None:
            return
        leaving = {id(state) for state in finished}
        remaining = [state for state in current.states if id(state) not in leaving]
        if not remaining:
            self._round = None
            return
        keep = torch.tensor(
            [
                row
                for state, (start, stop) in zip(current.states, row_spans(current.states), strict=True)
                if id(state) not in leaving
                for row in range(start, stop)
            ],
            device=self.device,
        )
        current.cache.batch_select_indices(keep)
        current.attention_mask = current.attention_mask[keep]
        current.next_positions = current.next_positions[keep]
        current.states = remaining

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask[index, width - len(row) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)


class TorchEngine(BatchedEngine):
    """Linear Alignment decoding with transformers models, KV caches and batched streams.

    `context_length` overrides the model's window (`max_position_embeddings`), e.g. to test the window rule.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_id: str,
        device: str,
        load_timings: dict[str, float] | None = None,
        context_length: int | None = None,
    ) -> None:
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        runner = TorchRunner(model, pad_token_id, device, context_length)
        super().__init__(runner, tokenizer, model_id, _eos_ids(model, tokenizer))
        self.model = model
        self.vocab_size = self.runner.vocab_size
        self.pad_token_id = pad_token_id
        self.load_timings = load_timings or {}

    @classmethod
    def from_path(
        cls,
        model_path: str,
        device: str | None = None,
        dtype: str | None = None,
        threads: int | None = None,
        cache_dir: str | None = None,
    ) -> TorchEngine:
        from alignment_engine.models import load_model

        loaded = load_model(model_path, device=device, dtype=dtype, threads=threads, cache_dir=cache_dir)
        return cls(loaded.model, loaded.tokenizer, loaded.model_id, loaded.device, loaded.timings)

    def limits(self) -> BatchLimits:
        return BatchLimits(max_rows=MAX_BATCH_ROWS, kv_budget_bytes=MAX_KV_BYTES)


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return frozenset(ids)

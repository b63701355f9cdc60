"""The torch/transformers backend: every stream of every request is a row of one batched forward pass."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch
from transformers import DynamicCache

from alignment_engine.decoding import BatchedEngine, Event, Layout, RequestState, choose_tokens, record_tokens, row_spans
from alignment_engine.engine import CancelCheck
from alignment_engine.prompts import stream_token_ids
from alignment_engine.types import GenerationRequest

# Requests are decoded together up to this many rows (streams) per forward pass; more wait for a next round.
MAX_BATCH_ROWS = 64


class TorchEngine(BatchedEngine):
    """Linear Alignment decoding with transformers models, KV caches and batched streams."""

    backend = "torch"

    def __init__(self, model: Any, tokenizer: Any, model_id: str, device: str, load_timings: dict[str, float] | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self.load_timings = load_timings or {}
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.eos_token_ids = _eos_ids(model, tokenizer)

    @classmethod
    def from_path(cls, model_path: str, device: str | None = None, dtype: str | None = None) -> "TorchEngine":
        from alignment_engine.models import load_model

        loaded = load_model(model_path, device=device, dtype=dtype)
        return cls(loaded.model, loaded.tokenizer, loaded.model_id, loaded.device, loaded.timings)

    # Decoding loop ----------------------------------------------------------------------------------

    def _decode(self, requests: list[GenerationRequest], should_cancel: CancelCheck | None) -> Iterator[Event]:
        """Yields (request index, text delta, result or None) as tokens are decided."""
        pending = [
            RequestState.create(index, request, stream_token_ids(self.tokenizer, request), self.tokenizer, self.device)
            for index, request in enumerate(requests)
        ]
        while pending:
            group, rows = [], 0
            while pending and (not group or rows + pending[0].rows <= MAX_BATCH_ROWS):
                rows += pending[0].rows
                group.append(pending.pop(0))
            yield from self._decode_group(group, should_cancel)

    @torch.inference_mode()
    def _decode_group(self, active: list[RequestState], should_cancel: CancelCheck | None) -> Iterator[Event]:
        prefill_started = time.perf_counter()
        for state in active:
            state.started = prefill_started
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
        logits = output.logits[:, -1, :]
        next_positions = attention_mask.sum(-1, keepdim=True)
        prefill_seconds = time.perf_counter() - prefill_started
        layout = Layout.of(active, self.device)
        while True:
            tokens = choose_tokens(logits, active, layout, self.vocab_size).tolist()
            yield from record_tokens(
                active, tokens, should_cancel, self.eos_token_ids, prefill_seconds, self.model_id, self.backend
            )
            if any(state.finish_reason is not None for state in active):
                keep_rows = [
                    row for state, (start, stop) in zip(active, row_spans(active)) if state.finish_reason is None
                    for row in range(start, stop)
                ]
                active = [state for state in active if state.finish_reason is None]
                if not active:
                    return
                keep = torch.tensor(keep_rows, device=self.device)
                cache.batch_select_indices(keep)
                attention_mask = attention_mask[keep]
                next_positions = next_positions[keep]
                layout = Layout.of(active, self.device)
            row_tokens = torch.tensor(
                [state.generated[-1] for state in active for _ in range(state.rows)], device=self.device
            )
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1)
            output = self.model(
                input_ids=row_tokens[:, None],
                attention_mask=attention_mask,
                position_ids=next_positions,
                past_key_values=cache,
                use_cache=True,
            )
            next_positions = next_positions + 1
            logits = output.logits[:, -1, :]

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask[index, width - len(row) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)


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

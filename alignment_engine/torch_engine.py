"""The torch/transformers backend: every stream of every request is a row of one batched forward pass."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache

from alignment_engine import linear_alignment as la
from alignment_engine.engine import CancelCheck, DeltaCallback
from alignment_engine.prompts import stream_token_ids
from alignment_engine.text import IncrementalText
from alignment_engine.types import GenerationRequest, GenerationResult, StreamEvent

# Requests are decoded together up to this many rows (streams) per forward pass; more wait for a next round.
MAX_BATCH_ROWS = 64


@dataclass
class _RequestState:
    """Decoding state of one request inside a batch."""

    index: int
    request: GenerationRequest
    streams: list[list[int]]
    coefficients: list[float]
    text: IncrementalText
    generator: torch.Generator | None
    started: float
    generated: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    first_token_at: float | None = None

    @property
    def rows(self) -> int:
        return len(self.streams)


@dataclass
class _Layout:
    """Per-batch tensors that only change when a request leaves the batch."""

    mixing: torch.Tensor
    principle_rows: torch.Tensor
    row_request: torch.Tensor
    temperature: torch.Tensor
    top_p: torch.Tensor
    penalty: torch.Tensor | None
    do_sample: list[bool]
    generators: list[torch.Generator | None]


class TorchEngine:
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

    # Public API -------------------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult:
        return self.generate_batch([request])[0]

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_delta: DeltaCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        for index, delta, result in self._decode(list(requests), should_cancel):
            if delta and on_delta is not None:
                on_delta(index, delta)
            if result is not None:
                results[index] = result
        return [r for r in results if r is not None]

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        for _, delta, result in self._decode([request], None):
            if delta:
                yield StreamEvent(delta=delta)
            if result is not None:
                yield StreamEvent(delta="", result=result)

    # Decoding loop ----------------------------------------------------------------------------------

    def _decode(
        self, requests: list[GenerationRequest], should_cancel: Callable[[int], bool] | None
    ) -> Iterator[tuple[int, str, GenerationResult | None]]:
        """Yields (request index, text delta, result or None) as tokens are decided."""
        pending = [self._new_state(index, request) for index, request in enumerate(requests)]
        while pending:
            group, rows = [], 0
            while pending and (not group or rows + pending[0].rows <= MAX_BATCH_ROWS):
                rows += pending[0].rows
                group.append(pending.pop(0))
            yield from self._decode_group(group, should_cancel)

    def _new_state(self, index: int, request: GenerationRequest) -> _RequestState:
        config = request.config
        generator = None
        if config.do_sample:
            generator = torch.Generator(device=self.device)
            if config.seed is None:
                generator.seed()
            else:
                generator.manual_seed(config.seed)
        return _RequestState(
            index=index,
            request=request,
            streams=stream_token_ids(self.tokenizer, request),
            coefficients=la.stream_coefficients(config.alpha, [p.weight for p in request.principles]),
            text=IncrementalText(self.tokenizer, config.stop),
            generator=generator,
            started=time.perf_counter(),
        )

    @torch.inference_mode()
    def _decode_group(
        self, active: list[_RequestState], should_cancel: Callable[[int], bool] | None
    ) -> Iterator[tuple[int, str, GenerationResult | None]]:
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
        layout = self._layout(active)
        while True:
            tokens = self._choose(logits, active, layout).tolist()
            now = time.perf_counter()
            finished = []
            for state, token in zip(active, tokens):
                if should_cancel is not None and should_cancel(state.index):
                    state.finish_reason = "cancelled"
                else:
                    delta = self._advance(state, token)
                    state.first_token_at = state.first_token_at or now
                    if delta:
                        yield state.index, delta, None
                if state.finish_reason is not None:
                    finished.append(state)
            for state in finished:
                tail = state.text.flush()
                yield state.index, tail, self._result(state, prefill_seconds)
            if finished:
                keep_rows = [
                    row for state, (start, stop) in zip(active, self._row_spans(active)) if state.finish_reason is None
                    for row in range(start, stop)
                ]
                active = [state for state in active if state.finish_reason is None]
                if not active:
                    return
                keep = torch.tensor(keep_rows, device=self.device)
                cache.batch_select_indices(keep)
                attention_mask = attention_mask[keep]
                next_positions = next_positions[keep]
                layout = self._layout(active)
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

    @staticmethod
    def _row_spans(active: list[_RequestState]) -> list[tuple[int, int]]:
        spans, start = [], 0
        for state in active:
            spans.append((start, start + state.rows))
            start += state.rows
        return spans

    def _layout(self, active: list[_RequestState]) -> _Layout:
        configs = [state.request.config for state in active]
        spans = self._row_spans(active)
        penalties = [c.repetition_penalty for c in configs]
        return _Layout(
            mixing=la.mixing_matrix([state.coefficients for state in active], device=self.device),
            principle_rows=torch.tensor([start for start, _ in spans], device=self.device),
            row_request=torch.tensor(
                [position for position, state in enumerate(active) for _ in range(state.rows)], device=self.device
            ),
            temperature=torch.tensor([c.temperature for c in configs], dtype=torch.float32, device=self.device),
            top_p=torch.tensor([c.top_p for c in configs], dtype=torch.float32, device=self.device),
            penalty=None if all(p == 1.0 for p in penalties) else torch.tensor(penalties, device=self.device),
            do_sample=[c.do_sample for c in configs],
            generators=[state.generator for state in active],
        )

    def _choose(self, logits: torch.Tensor, active: list[_RequestState], layout: _Layout) -> torch.Tensor:
        logits = logits[:, : self.vocab_size].float()
        if layout.penalty is not None:
            seen = torch.zeros((len(active), logits.shape[-1]), dtype=torch.bool, device=self.device)
            for position, state in enumerate(active):
                if state.generated:
                    seen[position, state.generated] = True
            logits = la.apply_repetition_penalty(logits, seen[layout.row_request], layout.penalty[layout.row_request])
        banned = None
        if any(state.request.config.no_repeat_ngram_size for state in active):
            banned = torch.zeros((len(active), logits.shape[-1]), dtype=torch.bool, device=self.device)
            for position, state in enumerate(active):
                blocked = la.banned_ngram_tokens(state.generated, state.request.config.no_repeat_ngram_size)
                if blocked:
                    banned[position, blocked] = True
        combined = la.combine_streams(logits, layout.mixing)
        probabilities = la.aligned_probabilities(
            combined, logits[layout.principle_rows], layout.temperature, layout.top_p, banned
        )
        return la.choose_tokens(probabilities, layout.do_sample, layout.generators)

    def _advance(self, state: _RequestState, token: int) -> str:
        """Record a decided token; sets finish_reason when the request is done."""
        state.generated.append(token)
        if token in self.eos_token_ids:
            state.finish_reason = "eos"
            return ""
        delta = state.text.push(token)
        if state.text.stopped:
            state.finish_reason = "stop"
        elif len(state.generated) >= state.request.config.max_new_tokens:
            state.finish_reason = "length"
        return delta

    def _result(self, state: _RequestState, prefill_seconds: float) -> GenerationResult:
        finished = time.perf_counter()
        seconds = finished - state.started
        decode_seconds = max(seconds - prefill_seconds, 1e-9)
        timings = {
            "prefill_seconds": prefill_seconds,
            "decode_seconds": decode_seconds,
            "first_token_seconds": (state.first_token_at or finished) - state.started,
            "tokens_per_second": len(state.generated) / seconds if seconds > 0 else 0.0,
        }
        return GenerationResult(
            text=state.text.text,
            tokens=len(state.generated),
            prompt_tokens=len(state.streams[0]),
            finish_reason=state.finish_reason or "length",
            seconds=seconds,
            timings=timings,
            model_id=self.model_id,
            backend=self.backend,
            config=state.request.config,
        )


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

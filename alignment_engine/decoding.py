"""Backend-neutral decoding: per-request state, the row layout of a batch and the per-step token choice.

The decode loop (`scheduler.py`) hands this module the last-position logits of every stream row (rows of a
request are consecutive, requests in `active` order) and gets back the chosen tokens, the text deltas and
the finished results; the Linear Alignment rule itself is `linear_alignment`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from alignment_engine import linear_alignment as la
from alignment_engine.constraints import RuleConstraints
from alignment_engine.engine import CancelCheck
from alignment_engine.processors import LogitsProcessor, processors_for, rule_constraints
from alignment_engine.prompts import StreamPlan
from alignment_engine.text import IncrementalText
from alignment_engine.types import GenerationConfig, GenerationRequest, GenerationResult

# (request index, text delta, result or None), in the order tokens are decided.
Event = tuple[int, str, GenerationResult | None]


def request_generator(config: GenerationConfig, device: torch.device | str = "cpu") -> torch.Generator | None:
    """The request's own random generator when it samples (seeded by `config.seed`, else randomly)."""
    if not config.do_sample:
        return None
    generator = torch.Generator(device=device)
    if config.seed is None:
        generator.seed()
    else:
        generator.manual_seed(config.seed)
    return generator


@dataclass
class RequestState:
    """Decoding state of one request inside a batch; its streams are consecutive rows."""

    index: int
    request: GenerationRequest
    plan: StreamPlan
    text: IncrementalText
    generator: torch.Generator | None
    processors: list[LogitsProcessor] = field(default_factory=list)
    constraints: RuleConstraints | None = None
    started: float = 0.0
    generated: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    first_token_at: float | None = None

    @classmethod
    def create(
        cls,
        index: int,
        request: GenerationRequest,
        plan: StreamPlan,
        tokenizer: Any,
        device: torch.device | str = "cpu",
        eos_token_ids: frozenset[int] = frozenset(),
        vocab_size: int | None = None,
    ) -> RequestState:
        """`eos_token_ids` and `vocab_size` are needed when the request has rules (its constraints' vocabulary)."""
        constraints = None
        if vocab_size is not None:
            constraints = rule_constraints(request, tokenizer, vocab_size, eos_token_ids, device)
        elif request.enforced_rules():
            raise ValueError("a request with rules needs the vocabulary size")
        return cls(
            index=index,
            request=request,
            plan=plan,
            text=IncrementalText(tokenizer, request.config.stop),
            generator=request_generator(request.config, device),
            processors=processors_for(request, constraints, tokenizer, eos_token_ids),
            constraints=constraints,
        )

    @property
    def streams(self) -> list[list[int]]:
        return self.plan.streams

    @property
    def coefficients(self) -> list[float]:
        return self.plan.coefficients

    @property
    def rows(self) -> int:
        return len(self.streams)

    def advance(self, token: int, eos_token_ids: frozenset[int], window: int | None = None) -> str:
        """Record a decided token; sets finish_reason when the request is done. Returns the text delta.

        `window`: the context length every stream must stay within (None: no limit beyond max_new_tokens).
        With rules, the constraints see the token actually emitted: an end of turn chosen while a closing is
        due becomes the closing's first token (so the end itself is never emitted before the closing).
        """
        if self.constraints is not None:
            token = self.constraints.resolve(token)
            self.constraints.advance(token)
        self.generated.append(token)
        if token in eos_token_ids:
            self.finish_reason = "eos"
            return ""
        delta = self.text.push(token)
        if self.text.stopped:
            self.finish_reason = "stop"
        elif len(self.generated) >= self.request.config.max_new_tokens:
            self.finish_reason = "length"
        elif window is not None and self.plan.longest + len(self.generated) >= window:
            self.finish_reason = "length"  # the model's context window is full
        return delta

    def result(self, prefill_seconds: float, model_id: str, backend: str) -> GenerationResult:
        finished = time.perf_counter()
        seconds = finished - self.started
        decode_seconds = max(seconds - prefill_seconds, 1e-9)
        timings = {
            "prefill_seconds": prefill_seconds,
            "decode_seconds": decode_seconds,
            "first_token_seconds": (self.first_token_at or finished) - self.started,
            "tokens_per_second": len(self.generated) / seconds if seconds > 0 else 0.0,
        }
        return GenerationResult(
            text=self.text.text,
            tokens=len(self.generated),
            prompt_tokens=len(self.streams[0]),
            finish_reason=self.finish_reason or "length",
            seconds=seconds,
            timings=timings,
            model_id=model_id,
            backend=backend,
            config=self.request.config,
        )


def row_spans(active: Sequence[RequestState]) -> list[tuple[int, int]]:
    """[start, stop) of each request's rows."""
    spans, start = [], 0
    for state in active:
        spans.append((start, start + state.rows))
        start += state.rows
    return spans


@dataclass
class Layout:
    """Per-batch tensors that only change when a request leaves the batch."""

    mixing: torch.Tensor
    principle_rows: torch.Tensor
    row_request: torch.Tensor
    temperature: torch.Tensor
    top_p: torch.Tensor
    penalty: torch.Tensor | None
    do_sample: list[bool]
    generators: list[torch.Generator | None]

    @classmethod
    def of(cls, active: Sequence[RequestState], device: torch.device | str = "cpu") -> Layout:
        configs = [state.request.config for state in active]
        spans = row_spans(active)
        penalties = [c.repetition_penalty for c in configs]
        return cls(
            mixing=la.mixing_matrix([state.coefficients for state in active], device=device),
            principle_rows=torch.tensor([start for start, _ in spans], device=device),
            row_request=torch.tensor(
                [position for position, state in enumerate(active) for _ in range(state.rows)], device=device
            ),
            temperature=torch.tensor([c.temperature for c in configs], dtype=torch.float32, device=device),
            top_p=torch.tensor([c.top_p for c in configs], dtype=torch.float32, device=device),
            penalty=None if all(p == 1.0 for p in penalties) else torch.tensor(penalties, device=device),
            do_sample=[c.do_sample for c in configs],
            generators=[state.generator for state in active],
        )


def choose_tokens(
    logits: torch.Tensor, active: Sequence[RequestState], layout: Layout, vocab_size: int
) -> torch.Tensor:
    """Stream logits [rows, >= vocab] -> one token per request.

    1. per stream: the CTRL repetition penalty on every stream's logits (before combining);
    2. Linear Alignment: each request's rows mixed into z, and its principle row z_p;
    3. per request: its logits processors on (z, z_p) (`processors.py`: n-gram ban, later guards and masks);
    4. softmax(z / T) inside the top-p nucleus of z_p, then argmax or the request's own draw.
    """
    logits = logits[:, :vocab_size].float()
    if layout.penalty is not None:
        seen = torch.zeros((len(active), logits.shape[-1]), dtype=torch.bool, device=logits.device)
        for position, state in enumerate(active):
            if state.generated:
                seen[position, state.generated] = True
        logits = la.apply_repetition_penalty(logits, seen[layout.row_request], layout.penalty[layout.row_request])
    combined = la.combine_streams(logits, layout.mixing)
    principle = logits[layout.principle_rows]
    if any(state.processors for state in active):
        combined_rows, principle_rows = list(combined.unbind()), list(principle.unbind())
        for position, state in enumerate(active):
            for processor in state.processors:
                combined_rows[position], principle_rows[position] = processor(
                    state.generated, combined_rows[position], principle_rows[position]
                )
        combined, principle = torch.stack(combined_rows), torch.stack(principle_rows)
    probabilities = la.aligned_probabilities(combined, principle, layout.temperature, layout.top_p)
    return la.select_tokens(probabilities, layout.do_sample, layout.generators)


def record_tokens(
    active: Sequence[RequestState],
    tokens: Sequence[int],
    should_cancel: CancelCheck | None,
    eos_token_ids: frozenset[int],
    prefill_seconds: float,
    model_id: str,
    backend: str,
    window: int | None = None,
) -> Iterator[Event]:
    """Hand each request its decided token (or cancel it); yields the deltas, then each finished request's
    remaining text with its result. The caller drops the finished requests (finish_reason set) afterwards."""
    now = time.perf_counter()
    finished = []
    for state, token in zip(active, tokens, strict=True):
        if should_cancel is not None and should_cancel(state.index):
            state.finish_reason = "cancelled"
        else:
            delta = state.advance(token, eos_token_ids, window)
            state.first_token_at = state.first_token_at or now
            if delta:
                yield state.index, delta, None
        if state.finish_reason is not None:
            finished.append(state)
    for state in finished:
        tail = state.text.flush()
        yield state.index, tail, state.result(prefill_seconds, model_id, backend)

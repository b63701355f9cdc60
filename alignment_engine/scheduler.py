"""The one decode loop of every backend: admission, rounds, the context window, cancellation, locking, KV budget.

A backend is a narrow `ModelRunner`: it evaluates prompts (`prefill`), appends the last decided token to every
active stream (`step`), frees a finished request's KV cache (`release`), and says how long a stream may get
(`context_length`) and what one token of KV cache costs (`kv_bytes_per_token`). Everything else is here, once:

- admission: each request's stream plan (`prompts.plan_streams`) is built and checked against the window
  before anything is decoded; a prompt that does not fit is an `InvalidParameterError` on `messages`, rules
  that cannot all be kept one naming the rule (`principles[i].rules[j]`);
- rounds: requests in order, as many per round as fit in `BatchLimits` (rows and KV bytes: every row gets
  room for its request's longest stream plus `max_new_tokens`, capped at the window); the rest wait;
- per step: the token choice (`decoding.choose_tokens`), the deltas, finish reasons (a full window ends a
  request with "length") and cancellation (`should_cancel`, checked for every request at every step);
- one lock per engine: a runner's KV caches serve one round at a time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from alignment_engine.config import InvalidParameterError
from alignment_engine.decoding import Event, Layout, RequestState, choose_tokens, record_tokens
from alignment_engine.engine import CancelCheck, DeltaCallback
from alignment_engine.prompts import StreamPlan, plan_streams
from alignment_engine.types import GenerationRequest, GenerationResult, StreamEvent


@dataclass(frozen=True)
class BatchLimits:
    """How much one round may hold: stream rows, and KV cache bytes (rows x tokens per row x bytes per token)."""

    max_rows: int
    kv_budget_bytes: int


class ModelRunner(Protocol):
    """What a backend provides to the decode loop. Rows are the streams of `active`, in order."""

    backend: str
    device: str
    vocab_size: int
    context_length: int  # tokens one stream may hold, prompt and reply together
    kv_bytes_per_token: int  # KV cache of one token of one stream
    token_choice_threads: int | None  # torch threads for the token choice (None: leave torch's setting)

    def prefill(self, active: Sequence[RequestState], tokens_per_row: int) -> torch.Tensor:
        """Start a round: evaluate every stream's prompt with room for `tokens_per_row` tokens per row; returns
        the last-position logits of every row [rows, >= vocab]."""
        ...

    def step(self, active: Sequence[RequestState]) -> torch.Tensor:
        """Append each request's last decided token to its rows; returns the new last-position logits."""
        ...

    def release(self, finished: Sequence[RequestState]) -> None:
        """Free the KV cache of finished requests (the others keep their order)."""
        ...


class BatchedEngine:
    """The public Engine methods (`generate`, `generate_batch`, `stream`) over one model runner."""

    def __init__(self, runner: ModelRunner, tokenizer: Any, model_id: str, eos_token_ids: frozenset[int]) -> None:
        self.runner = runner
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.eos_token_ids = eos_token_ids
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def device(self) -> str:
        return self.runner.device

    def limits(self) -> BatchLimits:
        """The round limits of this backend (read at every call, so they can be changed at run time)."""
        raise NotImplementedError

    # Public API ---------------------------------------------------------------------------------------

    def plan(self, request: GenerationRequest) -> StreamPlan:
        """The request's streams (as fed to the model) and their coefficients."""
        return plan_streams(self.tokenizer, request)

    def prompt_token_ids(self, request: GenerationRequest) -> list[list[int]]:
        """The token ids of every stream of the request, as they are fed to the model."""
        return self.plan(request).streams

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

    # The decode loop ----------------------------------------------------------------------------------

    def admit(self, index: int, request: GenerationRequest) -> RequestState:
        """The request's decoding state; refuses a prompt that leaves no room in the context window and rules
        that no reply can keep together (both before anything is decoded)."""
        request.enforced_rules()
        plan = self.plan(request)
        window = self.runner.context_length
        if plan.longest >= window:
            raise InvalidParameterError(
                "messages", f"the prompt has {plan.longest} tokens; the model's context holds {window}"
            )
        return RequestState.create(
            index, request, plan, self.tokenizer, self.runner.device, self.eos_token_ids, self.runner.vocab_size
        )

    def _decode(self, requests: list[GenerationRequest], should_cancel: CancelCheck | None) -> Iterator[Event]:
        """Yields (request index, text delta, result or None) as tokens are decided."""
        pending = deque(self.admit(index, request) for index, request in enumerate(requests))
        with self._lock:
            limits = self.limits()
            while pending:
                yield from self._run_round(self._next_round(pending, limits), should_cancel)

    def _capacity(self, state: RequestState) -> int:
        """Tokens one stream of the request may need."""
        return min(self.runner.context_length, state.plan.longest + state.request.config.max_new_tokens)

    def _next_round(self, pending: deque[RequestState], limits: BatchLimits) -> list[RequestState]:
        """The first pending requests that fit together (always at least one)."""
        group: list[RequestState] = []
        rows = capacity = 0
        while pending:
            rows_after = rows + pending[0].rows
            capacity_after = max(capacity, self._capacity(pending[0]))
            kv_bytes = rows_after * capacity_after * self.runner.kv_bytes_per_token
            if group and (rows_after > limits.max_rows or kv_bytes > limits.kv_budget_bytes):
                break
            rows, capacity = rows_after, capacity_after
            group.append(pending.popleft())
        return group

    def _run_round(self, active: list[RequestState], should_cancel: CancelCheck | None) -> Iterator[Event]:
        runner = self.runner
        started = time.perf_counter()
        for state in active:
            state.started = started
        logits = runner.prefill(active, max(self._capacity(state) for state in active))
        prefill_seconds = time.perf_counter() - started
        layout = Layout.of(active, runner.device)
        try:
            while True:
                with _torch_threads(runner.token_choice_threads), torch.inference_mode():
                    tokens = choose_tokens(logits, active, layout, runner.vocab_size).tolist()
                yield from record_tokens(
                    active,
                    tokens,
                    should_cancel,
                    self.eos_token_ids,
                    prefill_seconds,
                    self.model_id,
                    runner.backend,
                    runner.context_length,
                )
                finished = [state for state in active if state.finish_reason is not None]
                if finished:
                    runner.release(finished)
                    active = [state for state in active if state.finish_reason is None]
                    if not active:
                        return
                    layout = Layout.of(active, runner.device)
                logits = runner.step(active)
        finally:
            if active:  # the caller stopped early (a closed stream) or a step failed: free the round
                runner.release(active)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's thread count for the token choice. The step works on a few vocabulary-sized rows: on the CPU,
    torch's thread pool can cost far more than it saves there (10x on 2 cores, next to llama.cpp's threads)."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

"""The llama.cpp backend: Linear Alignment with every stream of every request as a sequence of one llama_batch.

Per step, one `llama_decode` call appends the last decided token to every active sequence and returns the
last-position logits of all of them; the shared pure step (`linear_alignment`) turns them into the next
tokens. Prompts are built by `prompts.py` through the GGUF's own chat template, text is detokenised by
`text.IncrementalText`: the same code, settings and rules as the torch backend.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from alignment_engine import linear_alignment as la
from alignment_engine.config import InvalidParameterError
from alignment_engine.engine import CancelCheck, DeltaCallback
from alignment_engine.llamacpp_model import DecodingContext, LlamaModel, default_threads
from alignment_engine.llamacpp_tokenizer import LlamaTokenizer
from alignment_engine.prompts import stream_token_ids
from alignment_engine.text import IncrementalText
from alignment_engine.types import GenerationRequest, GenerationResult, StreamEvent

# Sequences (streams) decoded together; more requests wait for a next round (llama.cpp allows 256).
MAX_SEQUENCES = 64
# KV cache allocated for one round (every sequence gets room for its longest prompt + max_new_tokens).
MAX_KV_BYTES = 2 << 30
# A prompt prefix shared by a request's streams is evaluated once and copied to the other sequences when it
# is at least this long; copying a whole KV stream costs more than evaluating a handful of tokens.
MIN_SHARED_PREFIX = 16
# Contexts are sized in these steps so that similar batches reuse the same one.
CONTEXT_STEP = 256


@dataclass
class _RequestState:
    """Decoding state of one request inside a group; its streams are sequences first_sequence, ..."""

    index: int
    request: GenerationRequest
    streams: list[list[int]]
    coefficients: list[float]
    text: IncrementalText
    generator: torch.Generator | None
    first_sequence: int = 0
    started: float = 0.0
    generated: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    first_token_at: float | None = None

    @property
    def rows(self) -> int:
        return len(self.streams)

    @property
    def sequences(self) -> range:
        return range(self.first_sequence, self.first_sequence + self.rows)

    def next_position(self, row: int) -> int:
        """Where the last decided token goes in stream `row`."""
        return len(self.streams[row]) + len(self.generated) - 1


@dataclass
class _Layout:
    """Per-step tensors that only change when a request leaves the group."""

    mixing: torch.Tensor
    principle_rows: torch.Tensor
    row_request: torch.Tensor
    temperature: torch.Tensor
    top_p: torch.Tensor
    penalty: torch.Tensor | None
    do_sample: list[bool]
    generators: list[torch.Generator | None]


class LlamaCppEngine:
    """Linear Alignment decoding of a GGUF model with llama.cpp on the CPU."""

    backend = "llamacpp"
    device = "cpu"

    def __init__(self, model_path: str, n_threads: int | None = None) -> None:
        started = time.perf_counter()
        if n_threads is not None and n_threads < 1:
            raise InvalidParameterError("n_threads", "must be >= 1")
        self.model_id = os.path.basename(model_path)
        self.threads = n_threads or default_threads()
        self.model = LlamaModel(model_path)
        self.tokenizer = LlamaTokenizer(self.model.pointer)
        self.vocab_size = self.tokenizer.vocab_size
        self.eos_token_ids = frozenset({self.tokenizer.eos_token_id})
        self._context: DecodingContext | None = None
        self._lock = threading.Lock()
        self.load_timings = {"load_seconds": time.perf_counter() - started}

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

    def prompt_token_ids(self, request: GenerationRequest) -> list[list[int]]:
        """The token ids of every stream of the request, as they are fed to llama.cpp."""
        return stream_token_ids(self.tokenizer, request)

    def sequence_logits(self, tokens: Sequence[int]) -> torch.Tensor:
        """Next-token logits after every prefix of `tokens` ([len, vocab]), for teacher-forced comparisons."""
        with self._lock:
            context = self._context_for(1, len(tokens))
            context.clear()
            logits = context.decode(tokens, range(len(tokens)), [0] * len(tokens), [True] * len(tokens))
            rows = torch.from_numpy(logits.copy())
            context.clear()
        return rows

    # Decoding loop ----------------------------------------------------------------------------------

    def _decode(
        self, requests: list[GenerationRequest], should_cancel: Callable[[int], bool] | None
    ) -> Iterator[tuple[int, str, GenerationResult | None]]:
        """Yields (request index, text delta, result or None) as tokens are decided."""
        pending = [self._new_state(index, request) for index, request in enumerate(requests)]
        with self._lock:
            while pending:
                group, rows, capacity = [], 0, 0
                while pending:
                    rows_after = rows + pending[0].rows
                    capacity_after = max(capacity, self._capacity(pending[0]))
                    kv_bytes = rows_after * capacity_after * self.model.kv_bytes_per_token
                    fits = rows_after <= MAX_SEQUENCES and kv_bytes <= MAX_KV_BYTES
                    if group and not fits:
                        break
                    rows, capacity = rows_after, capacity_after
                    group.append(pending.pop(0))
                yield from self._decode_group(group, should_cancel)

    def _capacity(self, state: _RequestState) -> int:
        """KV cells one sequence of the request may need."""
        longest = max(len(stream) for stream in state.streams)
        return min(self.model.context_length, longest + state.request.config.max_new_tokens)

    def _new_state(self, index: int, request: GenerationRequest) -> _RequestState:
        config = request.config
        streams = stream_token_ids(self.tokenizer, request)
        longest = max(len(stream) for stream in streams)
        if longest >= self.model.context_length:
            raise InvalidParameterError(
                "messages", f"the prompt has {longest} tokens; the model's context holds {self.model.context_length}"
            )
        generator = None
        if config.do_sample:
            generator = torch.Generator()
            generator.manual_seed(config.seed if config.seed is not None else torch.seed())
        return _RequestState(
            index=index,
            request=request,
            streams=streams,
            coefficients=la.stream_coefficients(config.alpha, [p.weight for p in request.principles]),
            text=IncrementalText(self.tokenizer, config.stop),
            generator=generator,
        )

    def _context_for(self, sequences: int, tokens_per_sequence: int) -> DecodingContext:
        """The current context when it is big enough, else one sized for this round."""
        if self._context is None or not self._context.fits(sequences, tokens_per_sequence):
            tokens_per_sequence = -(-tokens_per_sequence // CONTEXT_STEP) * CONTEXT_STEP
            self._context = None  # free the old KV cache before allocating the new one
            self._context = DecodingContext(self.model, sequences, tokens_per_sequence, self.threads)
        return self._context

    def _decode_group(
        self, active: list[_RequestState], should_cancel: Callable[[int], bool] | None
    ) -> Iterator[tuple[int, str, GenerationResult | None]]:
        prefill_started = time.perf_counter()
        sequence = 0
        for state in active:
            state.started = prefill_started
            state.first_sequence = sequence
            sequence += state.rows
        context = self._context_for(sequence, max(self._capacity(state) for state in active))
        context.clear()
        window = min(context.tokens_per_sequence, self.model.context_length)
        logits = self._prefill(context, active)
        prefill_seconds = time.perf_counter() - prefill_started
        layout = self._layout(active)
        while True:
            with _single_threaded_torch():
                tokens = self._choose(logits, active, layout).tolist()
            now = time.perf_counter()
            finished = []
            for state, token in zip(active, tokens):
                if should_cancel is not None and should_cancel(state.index):
                    state.finish_reason = "cancelled"
                else:
                    delta = self._advance(state, token, window)
                    state.first_token_at = state.first_token_at or now
                    if delta:
                        yield state.index, delta, None
                if state.finish_reason is not None:
                    finished.append(state)
            for state in finished:
                for sequence_id in state.sequences:
                    context.remove_sequence(sequence_id)
                yield state.index, state.text.flush(), self._result(state, prefill_seconds)
            if finished:
                active = [state for state in active if state.finish_reason is None]
                if not active:
                    return
                layout = self._layout(active)
            batch_tokens, positions, sequence_ids = [], [], []
            for state in active:
                for row, sequence_id in enumerate(state.sequences):
                    batch_tokens.append(state.generated[-1])
                    positions.append(state.next_position(row))
                    sequence_ids.append(sequence_id)
            logits = torch.from_numpy(context.decode(batch_tokens, positions, sequence_ids, [True] * len(batch_tokens)))

    def _prefill(self, context: DecodingContext, active: list[_RequestState]) -> torch.Tensor:
        """Evaluate every prompt; returns the last-position logits of every stream, rows in sequence order.

        A prefix common to all streams of a request is evaluated once, in its first sequence, and copied.
        """
        shared = {state.index: _shared_prefix(state.streams) for state in active}
        prefix_tokens, prefix_positions, prefix_sequences = [], [], []
        for state in active:
            length = shared[state.index]
            prefix_tokens.extend(state.streams[0][:length])
            prefix_positions.extend(range(length))
            prefix_sequences.extend([state.first_sequence] * length)
        if prefix_tokens:
            context.decode(prefix_tokens, prefix_positions, prefix_sequences, [False] * len(prefix_tokens))
            for state in active:
                if shared[state.index]:
                    for sequence_id in state.sequences[1:]:
                        context.copy_sequence(state.first_sequence, sequence_id)
        tokens, positions, sequence_ids, wanted = [], [], [], []
        for state in active:
            start = shared[state.index]
            for stream, sequence_id in zip(state.streams, state.sequences):
                tokens.extend(stream[start:])
                positions.extend(range(start, len(stream)))
                sequence_ids.extend([sequence_id] * (len(stream) - start))
                wanted.extend([False] * (len(stream) - start - 1) + [True])
        return torch.from_numpy(context.decode(tokens, positions, sequence_ids, wanted))

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
            mixing=la.mixing_matrix([state.coefficients for state in active]),
            principle_rows=torch.tensor([start for start, _ in spans]),
            row_request=torch.tensor([position for position, state in enumerate(active) for _ in range(state.rows)]),
            temperature=torch.tensor([c.temperature for c in configs], dtype=torch.float32),
            top_p=torch.tensor([c.top_p for c in configs], dtype=torch.float32),
            penalty=None if all(p == 1.0 for p in penalties) else torch.tensor(penalties),
            do_sample=[c.do_sample for c in configs],
            generators=[state.generator for state in active],
        )

    def _choose(self, logits: torch.Tensor, active: list[_RequestState], layout: _Layout) -> torch.Tensor:
        """The shared Linear Alignment step on the stream logits, with the same repetition guards as torch."""
        logits = logits[:, : self.vocab_size].float()
        if layout.penalty is not None:
            seen = torch.zeros((len(active), logits.shape[-1]), dtype=torch.bool)
            for position, state in enumerate(active):
                if state.generated:
                    seen[position, state.generated] = True
            logits = la.apply_repetition_penalty(logits, seen[layout.row_request], layout.penalty[layout.row_request])
        banned = None
        if any(state.request.config.no_repeat_ngram_size for state in active):
            banned = torch.zeros((len(active), logits.shape[-1]), dtype=torch.bool)
            for position, state in enumerate(active):
                blocked = la.banned_ngram_tokens(state.generated, state.request.config.no_repeat_ngram_size)
                if blocked:
                    banned[position, blocked] = True
        combined = la.combine_streams(logits, layout.mixing)
        probabilities = la.aligned_probabilities(
            combined, logits[layout.principle_rows], layout.temperature, layout.top_p, banned
        )
        return la.choose_tokens(probabilities, layout.do_sample, layout.generators)

    def _advance(self, state: _RequestState, token: int, window: int) -> str:
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
        elif max(len(stream) for stream in state.streams) + len(state.generated) >= window:
            state.finish_reason = "length"  # the model's context window is full
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


@contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """The step works on a few vocabulary-sized rows: torch's thread pool costs far more than it saves
    there (10x on 2 cores) and its spinning workers would compete with llama.cpp's own threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _shared_prefix(streams: list[list[int]]) -> int:
    """Tokens all streams start with, when worth sharing; each stream keeps at least its last token."""
    if len(streams) < 2:
        return 0
    limit = min(len(stream) for stream in streams) - 1
    length = 0
    while length < limit and all(stream[length] == streams[0][length] for stream in streams[1:]):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0

"""The llama.cpp backend: Linear Alignment with every stream of every request as a sequence of one llama_batch.

Per step, one `llama_decode` call appends the last decided token to every active sequence and returns the
last-position logits of all of them; the shared pure step (`linear_alignment`) turns them into the next
tokens. Prompts are built by `prompts.py` through the GGUF's own chat template, text is detokenised by
`text.IncrementalText`, and the per-step token choice and request state are `decoding`'s: the same code,
settings and rules as the torch backend.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from alignment_engine.config import InvalidParameterError
from alignment_engine.decoding import BatchedEngine, Event, Layout, RequestState, choose_tokens, record_tokens
from alignment_engine.engine import CancelCheck
from alignment_engine.llamacpp_model import DecodingContext, LlamaModel, default_threads
from alignment_engine.llamacpp_tokenizer import LlamaTokenizer
from alignment_engine.prompts import stream_token_ids
from alignment_engine.types import GenerationRequest

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
class _SequenceState(RequestState):
    """A request's decoding state; its streams are the llama.cpp sequences first_sequence, ..."""

    first_sequence: int = 0

    @property
    def sequences(self) -> range:
        return range(self.first_sequence, self.first_sequence + self.rows)

    def next_position(self, row: int) -> int:
        """Where the last decided token goes in stream `row`."""
        return len(self.streams[row]) + len(self.generated) - 1


class LlamaCppEngine(BatchedEngine):
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

    # Public API beyond Engine's ---------------------------------------------------------------------

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

    def _decode(self, requests: list[GenerationRequest], should_cancel: CancelCheck | None) -> Iterator[Event]:
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

    def _capacity(self, state: _SequenceState) -> int:
        """KV cells one sequence of the request may need."""
        longest = max(len(stream) for stream in state.streams)
        return min(self.model.context_length, longest + state.request.config.max_new_tokens)

    def _new_state(self, index: int, request: GenerationRequest) -> _SequenceState:
        streams = stream_token_ids(self.tokenizer, request)
        longest = max(len(stream) for stream in streams)
        if longest >= self.model.context_length:
            raise InvalidParameterError(
                "messages", f"the prompt has {longest} tokens; the model's context holds {self.model.context_length}"
            )
        return _SequenceState.create(index, request, streams, self.tokenizer)

    def _context_for(self, sequences: int, tokens_per_sequence: int) -> DecodingContext:
        """The current context when it is big enough, else one sized for this round."""
        if self._context is None or not self._context.fits(sequences, tokens_per_sequence):
            tokens_per_sequence = -(-tokens_per_sequence // CONTEXT_STEP) * CONTEXT_STEP
            self._context = None  # free the old KV cache before allocating the new one
            self._context = DecodingContext(self.model, sequences, tokens_per_sequence, self.threads)
        return self._context

    def _decode_group(self, active: list[_SequenceState], should_cancel: CancelCheck | None) -> Iterator[Event]:
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
        layout = Layout.of(active)
        while True:
            with _single_threaded_torch():
                tokens = choose_tokens(logits, active, layout, self.vocab_size).tolist()
            yield from record_tokens(
                active, tokens, should_cancel, self.eos_token_ids, prefill_seconds, self.model_id, self.backend, window
            )
            finished = [state for state in active if state.finish_reason is not None]
            if finished:
                for state in finished:
                    for sequence_id in state.sequences:
                        context.remove_sequence(sequence_id)
                active = [state for state in active if state.finish_reason is None]
                if not active:
                    return
                layout = Layout.of(active)
            batch_tokens, positions, sequence_ids = [], [], []
            for state in active:
                for row, sequence_id in enumerate(state.sequences):
                    batch_tokens.append(state.generated[-1])
                    positions.append(state.next_position(row))
                    sequence_ids.append(sequence_id)
            logits = torch.from_numpy(context.decode(batch_tokens, positions, sequence_ids, [True] * len(batch_tokens)))

    def _prefill(self, context: DecodingContext, active: list[_SequenceState]) -> torch.Tensor:
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

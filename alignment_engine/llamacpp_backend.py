"""The llama.cpp backend: Linear Alignment with every stream of every request as a sequence of one llama_batch.

`LlamaCppRunner` is the model runner of the shared decode loop (`scheduler.py`): per step, one `llama_decode`
call appends the last decided token to every active sequence and returns the last-position logits of all of
them. Prompts are built by `prompts.py` through the GGUF's own chat template, text is detokenised by
`text.IncrementalText`, and admission, the token choice and request state are the loop's: the same code,
settings and rules as the torch backend.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import torch

from alignment_engine.config import InvalidParameterError
from alignment_engine.decoding import RequestState
from alignment_engine.llamacpp_model import DecodingContext, LlamaModel, default_threads
from alignment_engine.llamacpp_tokenizer import LlamaTokenizer
from alignment_engine.scheduler import BatchedEngine, BatchLimits

# Sequences (streams) decoded together; more requests wait for a next round (llama.cpp allows 256).
MAX_SEQUENCES = 64
# KV cache allocated for one round (every sequence gets room for its longest prompt + max_new_tokens).
MAX_KV_BYTES = 2 << 30
# A prompt prefix shared by a request's streams is evaluated once and copied to the other sequences when it
# is at least this long; copying a whole KV stream costs more than evaluating a handful of tokens.
MIN_SHARED_PREFIX = 16
# Contexts are sized in these steps so that similar batches reuse the same one.
CONTEXT_STEP = 256


class LlamaCppRunner:
    """llama_decode over the sequences of a round: request i's streams are sequences first_i, first_i + 1, ..."""

    backend = "llamacpp"
    device = "cpu"
    # The choice works on a few vocabulary-sized rows: torch's spinning workers would compete with llama.cpp's.
    token_choice_threads = 1

    def __init__(self, model: LlamaModel, vocab_size: int, threads: int) -> None:
        self.model = model
        self.threads = threads
        self.vocab_size = vocab_size
        self.context_length = model.context_length
        self.kv_bytes_per_token = model.kv_bytes_per_token
        self._context: DecodingContext | None = None
        self._first_sequence: dict[int, int] = {}  # request index -> its first sequence id in this round

    def prefill(self, active: Sequence[RequestState], tokens_per_row: int) -> torch.Tensor:
        """Evaluate every prompt; returns the last-position logits of every stream, rows in sequence order.

        A prefix common to all streams of a request is evaluated once, in its first sequence, and copied.
        """
        self._first_sequence = {}
        sequence = 0
        for state in active:
            self._first_sequence[state.index] = sequence
            sequence += state.rows
        context = self.context_for(sequence, tokens_per_row)
        context.clear()
        shared = {state.index: _shared_prefix(state.streams) for state in active}
        prefix_tokens, prefix_positions, prefix_sequences = [], [], []
        for state in active:
            length = shared[state.index]
            prefix_tokens.extend(state.streams[0][:length])
            prefix_positions.extend(range(length))
            prefix_sequences.extend([self._first_sequence[state.index]] * length)
        if prefix_tokens:
            context.decode(prefix_tokens, prefix_positions, prefix_sequences, [False] * len(prefix_tokens))
            for state in active:
                if shared[state.index]:
                    first, *others = self._sequences(state)
                    for sequence_id in others:
                        context.copy_sequence(first, sequence_id)
        tokens, positions, sequence_ids, wanted = [], [], [], []
        for state in active:
            start = shared[state.index]
            for stream, sequence_id in zip(state.streams, self._sequences(state), strict=True):
                tokens.extend(stream[start:])
                positions.extend(range(start, len(stream)))
                sequence_ids.extend([sequence_id] * (len(stream) - start))
                wanted.extend([False] * (len(stream) - start - 1) + [True])
        return torch.from_numpy(context.decode(tokens, positions, sequence_ids, wanted))

    def step(self, active: Sequence[RequestState]) -> torch.Tensor:
        batch_tokens, positions, sequence_ids = [], [], []
        for state in active:
            for stream, sequence_id in zip(state.streams, self._sequences(state), strict=True):
                batch_tokens.append(state.generated[-1])
                positions.append(len(stream) + len(state.generated) - 1)
                sequence_ids.append(sequence_id)
        return torch.from_numpy(self._context.decode(batch_tokens, positions, sequence_ids, [True] * len(batch_tokens)))

    def release(self, finished: Sequence[RequestState]) -> None:
        for state in finished:
            for sequence_id in self._sequences(state):
                self._context.remove_sequence(sequence_id)
            del self._first_sequence[state.index]

    def sequence_logits(self, tokens: Sequence[int]) -> torch.Tensor:
        """Next-token logits after every prefix of `tokens` ([len, vocab]); the caller holds the engine's lock."""
        context = self.context_for(1, len(tokens))
        context.clear()
        logits = context.decode(tokens, range(len(tokens)), [0] * len(tokens), [True] * len(tokens))
        rows = torch.from_numpy(logits.copy())
        context.clear()
        return rows

    def context_for(self, sequences: int, tokens_per_sequence: int) -> DecodingContext:
        """The current context when it is big enough, else one sized for this round."""
        if self._context is None or not self._context.fits(sequences, tokens_per_sequence):
            tokens_per_sequence = -(-tokens_per_sequence // CONTEXT_STEP) * CONTEXT_STEP
            self._context = None  # free the old KV cache before allocating the new one
            self._context = DecodingContext(self.model, sequences, tokens_per_sequence, self.threads)
        return self._context

    def _sequences(self, state: RequestState) -> range:
        first = self._first_sequence[state.index]
        return range(first, first + state.rows)


class LlamaCppEngine(BatchedEngine):
    """Linear Alignment decoding of a GGUF model with llama.cpp on the CPU."""

    def __init__(self, model_path: str, n_threads: int | None = None) -> None:
        started = time.perf_counter()
        if n_threads is not None and n_threads < 1:
            raise InvalidParameterError("n_threads", "must be >= 1")
        threads = n_threads or default_threads()
        model = LlamaModel(model_path)
        tokenizer = LlamaTokenizer(model.pointer)
        runner = LlamaCppRunner(model, tokenizer.vocab_size, threads)
        super().__init__(runner, tokenizer, os.path.basename(model_path), frozenset({tokenizer.eos_token_id}))
        self.model = model
        self.threads = threads
        self.vocab_size = tokenizer.vocab_size
        self.load_timings = {"load_seconds": time.perf_counter() - started}

    def limits(self) -> BatchLimits:
        return BatchLimits(max_rows=MAX_SEQUENCES, kv_budget_bytes=MAX_KV_BYTES)

    def sequence_logits(self, tokens: Sequence[int]) -> torch.Tensor:
        """Next-token logits after every prefix of `tokens` ([len, vocab]), for teacher-forced comparisons."""
        with self._lock:
            return self.runner.sequence_logits(tokens)


def _shared_prefix(streams: list[list[int]]) -> int:
    """Tokens all streams start with, when worth sharing; each stream keeps at least its last token."""
    if len(streams) < 2:
        return 0
    limit = min(len(stream) for stream in streams) - 1
    length = 0
    while length < limit and all(stream[length] == streams[0][length] for stream in streams[1:]):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0

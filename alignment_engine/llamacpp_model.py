"""llama.cpp through its C API (llama-cpp-python's ctypes bindings): a loaded GGUF and a multi-sequence context.

The high-level `llama_cpp.Llama` class decodes one sequence and samples inside llama.cpp; Linear Alignment
needs the raw last-position logits of several sequences per step, so the engine drives `llama_decode` with
its own `llama_batch` and reads `llama_get_logits`.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence

import llama_cpp
import numpy as np

# llama.cpp reports every load at INFO level through llama-cpp-python's logger; keep errors only.
logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)

# Most tokens handed to one llama_decode call; longer inputs (many prompts at once) go in several calls.
BATCH_TOKENS = 2048

_backend_lock = threading.Lock()
_backend_ready = False


def default_threads() -> int:
    """All cores this process may run on (llama.cpp's matrix kernels scale with them)."""
    return max(1, len(os.sched_getaffinity(0)))


class LlamaModel:
    """The weights of one GGUF file, loaded once (memory-mapped) and shared by every context."""

    def __init__(self, path: str) -> None:
        _init_backend()
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0
        # No repacked weight layouts (AMX, ...): virtual machines may advertise AMX without enabling it,
        # and llama.cpp's AMX kernels then die with SIGILL on the first multi-token batch.
        params.use_extra_bufts = False
        self.pointer = llama_cpp.llama_model_load_from_file(path.encode("utf-8"), params)
        if not self.pointer:
            raise ValueError(f"llama.cpp could not load {path}")
        self.context_length = llama_cpp.llama_model_n_ctx_train(self.pointer)
        head_size = llama_cpp.llama_model_n_embd(self.pointer) // llama_cpp.llama_model_n_head(self.pointer)
        # f16 keys and values of every layer for one token of one sequence
        layers = llama_cpp.llama_model_n_layer(self.pointer)
        self.kv_bytes_per_token = 2 * 2 * layers * llama_cpp.llama_model_n_head_kv(self.pointer) * head_size

        # Freed when the model is collected, or at interpreter exit (atexit, before modules are torn down: a
        # __del__ there found `llama_cpp` already gone); a context keeps its model alive, so contexts go first.
        weakref.finalize(self, llama_cpp.llama_model_free, self.pointer)


class DecodingContext:
    """A context holding `sequences` KV caches of `tokens_per_sequence` cells each.

    The KV cache is not unified: every sequence id has its own stream of cells, so a sequence's attention
    never spans another's cells and decoding it alone or next to others does the same arithmetic.
    """

    def __init__(self, model: LlamaModel, sequences: int, tokens_per_sequence: int, threads: int) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = sequences * tokens_per_sequence
        params.n_seq_max = sequences
        params.n_batch = BATCH_TOKENS
        params.n_ubatch = min(BATCH_TOKENS, 512)
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = False
        params.no_perf = True
        self.sequences = sequences
        self.tokens_per_sequence = tokens_per_sequence
        self._model = model  # the context must not outlive its model
        self.pointer = llama_cpp.llama_init_from_model(model.pointer, params)
        if not self.pointer:
            raise MemoryError(f"llama.cpp could not create a context for {sequences} x {tokens_per_sequence} tokens")
        self.vocab_size = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model.pointer))
        self._memory = llama_cpp.llama_get_memory(self.pointer)
        self._batch = llama_cpp.llama_batch_init(BATCH_TOKENS, 0, 1)
        weakref.finalize(self, _context_free, self.pointer, self._batch, model)

    def fits(self, sequences: int, tokens_per_sequence: int) -> bool:
        return sequences <= self.sequences and tokens_per_sequence <= self.tokens_per_sequence

    def clear(self) -> None:
        """Forget every sequence."""
        llama_cpp.llama_memory_clear(self._memory, True)

    def remove_sequence(self, sequence_id: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory, sequence_id, -1, -1)

    def copy_sequence(self, source: int, target: int) -> None:
        """Give `target` the cells of `source` (done by llama.cpp before the next decode)."""
        llama_cpp.llama_memory_seq_cp(self._memory, source, target, -1, -1)

    def decode(
        self, tokens: Sequence[int], positions: Sequence[int], sequence_ids: Sequence[int], wanted: Sequence[bool]
    ) -> np.ndarray:
        """Append tokens to their sequences; returns the logits of the `wanted` tokens, in order [n, vocab].

        With a single llama_decode call the array is a view of llama.cpp's buffer, valid until the next call.
        """
        outputs = []
        for start in range(0, len(tokens), BATCH_TOKENS):
            end = min(start + BATCH_TOKENS, len(tokens))
            chunk = slice(start, end)
            rows = self._decode_chunk(tokens[chunk], positions[chunk], sequence_ids[chunk], wanted[chunk])
            outputs.append(rows if end == len(tokens) else rows.copy())
        if len(outputs) == 1:
            return outputs[0]
        return np.concatenate(outputs)

    def _decode_chunk(
        self, tokens: Sequence[int], positions: Sequence[int], sequence_ids: Sequence[int], wanted: Sequence[bool]
    ) -> np.ndarray:
        batch = self._batch
        count = len(tokens)
        for index in range(count):
            batch.token[index] = tokens[index]
            batch.pos[index] = positions[index]
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = sequence_ids[index]
            batch.logits[index] = wanted[index]
        batch.n_tokens = count
        status = llama_cpp.llama_decode(self.pointer, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed with status {status}")
        outputs = sum(1 for flag in wanted if flag)
        if outputs == 0:
            return np.empty((0, self.vocab_size), dtype=np.float32)
        logits = llama_cpp.llama_get_logits(self.pointer)
        return np.ctypeslib.as_array(logits, shape=(outputs, self.vocab_size))


def _context_free(pointer, batch, model: LlamaModel) -> None:
    """A context's memory given back; `model` is held until then, so it is freed after its contexts."""
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(pointer)


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_backend_init()
            _backend_ready = True

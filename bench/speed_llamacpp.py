"""Baselines for `bench/speed.py` on llama.cpp: plain decoding of the same GGUF, and the two-stream floor.

Both are greedy loops over llama.cpp's C API (one `llama_decode` per token, argmax of the first sequence's
logits in NumPy), in contexts of their own on the engine's loaded weights:
- plain decoding: the principle prompt as one sequence (what prompting alone costs);
- the two-stream floor: the principle and plain prompts as two sequences of one batch per token, both with
  logits, and no Linear Alignment step. That is the llama.cpp work Linear Alignment needs per token when it
  evaluates both streams at every step: it bounds the LA engine's single-request speed.

llama-cpp-python's `Llama` class is not the baseline: on hosts that advertise AMX it loads weights into
llama.cpp's AMX buffers, which died with SIGILL on the Intel VMs seen here (see docs/llamacpp.md), and this
bare loop does less per token than its sampler chain. Imported only when `llama_cpp` is installed.
"""

from __future__ import annotations

from collections.abc import Collection

from alignment_engine.llamacpp_model import DecodingContext

# KV cells per sequence for a benchmark prompt (the reply's tokens come on top).
PROMPT_ROOM = 512


def baseline_context(engine, sequences: int, max_new_tokens: int) -> DecodingContext:
    """A context of `sequences` sequences on the llama.cpp engine's weights, with the engine's thread count."""
    return DecodingContext(engine.model, sequences, PROMPT_ROOM + max_new_tokens, engine.threads)


def decode_greedy(context: DecodingContext, prompts: list[list[int]], max_new_tokens: int, eos: Collection[int]) -> int:
    """Greedy reply to `prompts[0]`, every prompt a sequence that receives the chosen tokens (stopping at an
    end-of-sequence token); returns the number of new tokens."""
    if len(prompts) > context.sequences:
        raise ValueError(f"{len(prompts)} prompts for a context of {context.sequences} sequences")
    context.clear()
    tokens, positions, sequence_ids, wanted = [], [], [], []
    for sequence_id, prompt in enumerate(prompts):
        tokens.extend(prompt)
        positions.extend(range(len(prompt)))
        sequence_ids.extend([sequence_id] * len(prompt))
        wanted.extend([False] * (len(prompt) - 1) + [True])
    logits = context.decode(tokens, positions, sequence_ids, wanted)
    streams = range(len(prompts))
    for produced in range(1, max_new_tokens + 1):
        token = int(logits[0].argmax())
        if token in eos or produced == max_new_tokens:
            return produced
        positions = [len(prompt) + produced - 1 for prompt in prompts]
        logits = context.decode([token] * len(prompts), positions, streams, [True] * len(prompts))
    return 0

"""Plain llama.cpp decoding for `bench/speed.py`: the floor cost of a token on the same GGUF.

Greedy decoding of one sequence at a time through llama.cpp's C API (one token per `llama_decode`, argmax
of its logits), in a context of its own on the engine's loaded weights. llama-cpp-python's `Llama` class
cannot be this baseline: it loads weights into llama.cpp's AMX buffers, which die with SIGILL on these
virtual machines (see docs/llamacpp.md). Imported only when `llama_cpp` is installed.
"""
from __future__ import annotations

from collections.abc import Collection

from alignment_engine.llamacpp_model import DecodingContext

# KV cells of the plain-decoding context: prompt plus reply of one benchmark request.
PLAIN_CONTEXT_TOKENS = 1024


def plain_context(engine) -> DecodingContext:
    """A one-sequence context on the llama.cpp engine's weights, with the engine's thread count."""
    return DecodingContext(engine.model, 1, PLAIN_CONTEXT_TOKENS, engine.threads)


def decode_greedy(context: DecodingContext, prompt: list[int], max_new_tokens: int, eos: Collection[int]) -> int:
    """Greedy reply to `prompt` (stopping at an end-of-sequence token); returns the number of new tokens."""
    context.clear()
    logits = context.decode(prompt, range(len(prompt)), [0] * len(prompt), [False] * (len(prompt) - 1) + [True])
    for produced in range(1, max_new_tokens + 1):
        token = int(logits[-1].argmax())
        if token in eos or produced == max_new_tokens:
            return produced
        logits = context.decode([token], [len(prompt) + produced - 1], [0], [True])
    return 0

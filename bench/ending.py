"""Why do Linear Alignment replies run to the token limit? Traces the end-of-turn token through the rule.

    python -m bench.ending [--split tune] [--questions 6] [--max-new-tokens 128] [--alpha 3] [--end-rule RULE]

Decodes each (question, principle) pair with Linear Alignment and, at every step, records for the end-of-turn
token (`<|im_end|>` for SmolLM2) its rank and log-probability (at the request's temperature) in the principle
stream z_p, the plain stream z_0 and the combined z, whether it is inside the top-p nucleus of z_p, and the
contrast z_p - z_0 (log-softmax) of the end token and of the token actually chosen. Reported: how often the
principle stream alone would have ended (its top token is the end token) while the combined rule chose
something else, and why. EXPERIMENTAL (monkeypatches the backends' token choice, bench only):
`--end-rule principle-top` ends the reply whenever the end token is the principle stream's top token.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from alignment_engine import DEFAULT_ALPHA, GenerationConfig, GenerationRequest, Principle  # noqa: E402
from alignment_engine import linear_alignment as la  # noqa: E402
from alignment_engine.decoding import row_spans  # noqa: E402
from bench.common import default_data_path, load_questions, markdown_table  # noqa: E402
from bench.guard import GuardSettings, guarded, patched_choose_tokens  # noqa: E402
from bench.quality import DEFAULT_PRINCIPLES, split_questions  # noqa: E402
from bench.scoring import load_principles  # noqa: E402

END_RULES = ("none", "principle-top")


@dataclass
class Step:
    """The end token at one decoding step of one request."""

    rank_p: int
    rank_0: int
    rank_z: int
    logprob_p: float
    logprob_0: float
    in_nucleus: bool
    contrast_end: float
    contrast_chosen: float
    logprob_p_chosen: float
    top_p_is_end: bool
    top_0_is_end: bool
    chosen_is_end: bool


@dataclass
class Trace:
    steps: list[Step] = field(default_factory=list)


def rank_of(logits: torch.Tensor, token: int) -> int:
    """0 = the top token."""
    return int((logits > logits[token]).sum())


@contextmanager
def traced(engine: Any, traces: dict[int, Trace], end_rule: str) -> Iterator[None]:
    """Records every two-stream request's steps into traces[request index]; applies the end rule."""
    end_token = min(engine.eos_token_ids)

    def wrap(choose):
        def choose_tokens(logits, active, layout, vocab_size):
            tokens = choose(logits, active, layout, vocab_size)
            rows = logits[:, :vocab_size].float()
            for position, (state, (start, stop)) in enumerate(zip(active, row_spans(active), strict=True)):
                if stop - start != 2:
                    continue  # prompting or no principle: one stream, nothing to contrast
                config = state.request.config
                temperature = config.temperature
                z_p, z_0 = rows[start], rows[start + 1]
                z = la.combine_logits(z_p[None], z_0[None], config.alpha)[0]
                lp_p = torch.log_softmax(z_p / temperature, -1)
                lp_0 = torch.log_softmax(z_0 / temperature, -1)
                keep = la.plausibility_mask(z_p[None], torch.tensor([temperature]), torch.tensor([config.top_p]))[0]
                chosen = int(tokens[position])
                top_p_is_end = int(z_p.argmax()) == end_token
                if end_rule == "principle-top" and top_p_is_end:
                    tokens[position] = end_token
                    chosen = end_token
                traces.setdefault(state.index, Trace()).steps.append(
                    Step(
                        rank_p=rank_of(z_p, end_token),
                        rank_0=rank_of(z_0, end_token),
                        rank_z=rank_of(z.masked_fill(~keep, float("-inf")), end_token),
                        logprob_p=float(lp_p[end_token]),
                        logprob_0=float(lp_0[end_token]),
                        in_nucleus=bool(keep[end_token]),
                        contrast_end=float(lp_p[end_token] - lp_0[end_token]),
                        contrast_chosen=float(lp_p[chosen] - lp_0[chosen]),
                        logprob_p_chosen=float(lp_p[chosen]),
                        top_p_is_end=top_p_is_end,
                        top_0_is_end=int(z_0.argmax()) == end_token,
                        chosen_is_end=chosen == end_token,
                    )
                )
            return tokens

        return choose_tokens

    with patched_choose_tokens(wrap):
        yield


def median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def report(label: str, results: list, traces: dict[int, Trace]) -> list[list[str]]:
    ended = [r.finish_reason in ("eos", "stop") for r in results]
    at_limit = [i for i, r in enumerate(results) if r.finish_reason == "length"]
    would_end = [s for i in at_limit for s in traces.get(i, Trace()).steps if s.top_p_is_end and not s.chosen_is_end]
    replies_with = sum(
        any(s.top_p_is_end and not s.chosen_is_end for s in traces.get(i, Trace()).steps) for i in at_limit
    )
    plain_would_end = sum(any(s.top_0_is_end for s in traces.get(i, Trace()).steps) for i in at_limit)
    steps = [s for trace in traces.values() for s in trace.steps]
    limit_traces = [traces[i].steps for i in at_limit if i in traces and traces[i].steps]
    return [
        [
            label,
            f"{sum(ended) / len(ended):.0%}",
            f"{replies_with}/{len(at_limit)}",
            f"{plain_would_end}/{len(at_limit)}",
            str(len(would_end)),
            median([s.rank_z for s in would_end]),
            median([s.logprob_p for s in would_end]),
            median([s.logprob_0 for s in would_end]),
            median([s.contrast_end for s in would_end]),
            median([s.contrast_chosen for s in would_end]),
            median([s.logprob_p_chosen for s in would_end]),
            median([max(s.logprob_p for s in t) for t in limit_traces]),
            median([max(s.logprob_0 for s in t) for t in limit_traces]),
            f"{sum(s.in_nucleus for s in steps) / len(steps):.1%}" if steps else "-",
            f"{sum(s.in_nucleus and s.rank_p > 0 for s in steps)}",
        ]
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--split", choices=("tune", "report"), default="tune")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--backend", choices=("llamacpp", "torch"), default="llamacpp")
    parser.add_argument("--principles", default=DEFAULT_PRINCIPLES)
    parser.add_argument("--only", nargs="+")
    parser.add_argument("--end-rule", choices=END_RULES, nargs="+", default=["none"])
    parser.add_argument("--guard", type=GuardSettings.parse, default=GuardSettings(), help="see bench.quality")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    from alignment_engine import load_engine

    engine = load_engine(backend=args.backend)
    principles = [p for p in load_principles(args.principles).principles if not args.only or p.name in args.only]
    questions = split_questions(load_questions(args.data), args.split)[: args.questions]
    config = GenerationConfig.from_dict({"max_new_tokens": args.max_new_tokens, "alpha": args.alpha})
    requests = [
        GenerationRequest(messages=[{"role": "user", "content": q}], principles=[Principle(p.text)], config=config)
        for q in questions
        for p in principles
    ]
    header = [
        "end rule",
        "ended",
        "limit-hit replies where z_p's top was the end token",
        "... where z_0's top was",
        "such steps",
        "end rank in masked z",
        "logprob end z_p",
        "logprob end z_0",
        "contrast end",
        "contrast chosen",
        "logprob chosen z_p",
        "max logprob end z_p per limit-hit reply",
        "... z_0",
        "steps with end in nucleus",
        "... not z_p's top",
    ]
    rows = []
    for rule in args.end_rule:
        traces: dict[int, Trace] = {}
        results = []
        with guarded(engine, args.guard):
            for start in range(0, len(requests), args.batch_size):
                chunk = requests[start : start + args.batch_size]
                offset = len(results)
                chunk_traces: dict[int, Trace] = {}
                with traced(engine, chunk_traces, rule):
                    results.extend(engine.generate_batch(chunk))
                traces.update({offset + index: trace for index, trace in chunk_traces.items()})
        rows += report(rule, results, traces)
        by_principle = {}
        for index, result in enumerate(results):
            name = principles[index % len(principles)].name
            by_principle.setdefault(name, []).append(result.finish_reason in ("eos", "stop"))
        print(
            f"end rule {rule}: ended per principle: "
            + ", ".join(f"{name} {sum(v) / len(v):.0%}" for name, v in by_principle.items()),
            flush=True,
        )
    print(
        f"backend={engine.backend} alpha={args.alpha:g} questions={len(questions)} principles={len(principles)} "
        f"max_new_tokens={args.max_new_tokens} guard={args.guard.name}"
    )
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()

"""Fluency of saved replies: their perplexity under the model that was told the reply's principles.

Linear Alignment's plausibility mask keeps every chosen token inside the top-p nucleus of the principle stream,
so that the contrast steers only among tokens the principle-prompted model finds plausible. A wider nucleus lets
the contrast reach further, which raises the lexical adherence scores of `bench/quality.py`, and may also let it
pick tokens that make a reply less fluent. This scores what the adherence scores cannot see: each reply of a
`bench/quality.py --save` file is scored by the torch model (the default weights unless `--model`), with the
reply's principles in the system message as the engine puts them there (the principle stream of
`prompts.stream_token_ids` at alpha 0; none for the plain replies), as the mean negative log-likelihood of the
reply's text, tokenized again, at temperature 1.
Per mode it prints the mean NLL per token, its perplexity (exp of the mean) and the share of replies whose own
perplexity is above `--high` (20 by default: text the model finds that unlikely reads as word salad).

  .venv/bin/python -m bench.fluency replies_a.jsonl replies_b.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from alignment_engine.prompts import stream_token_ids
from alignment_engine.types import GenerationConfig, GenerationRequest, Principle
from bench.common import markdown_table
from bench.quality import DEFAULT_PRINCIPLES
from bench.scoring import load_principles


@dataclass(frozen=True)
class ScoredReply:
    label: str
    nll: float  # mean negative log-likelihood per reply token
    tokens: int


def reply_nll(model, prompt_ids: list[int], reply_ids: list[int]) -> float:
    """Mean negative log-likelihood of `reply_ids` after `prompt_ids` under `model` (a causal LM, temperature 1)."""
    import torch

    if not reply_ids:
        return 0.0
    ids = torch.tensor([prompt_ids + reply_ids], device=model.device)
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].float()
    log_probs = torch.log_softmax(logits, dim=-1)
    targets = torch.tensor(reply_ids, device=logits.device)
    return float(-log_probs.gather(1, targets[:, None]).mean())


def prompt_ids_for(tokenizer, question: str, principle_texts: Sequence[str]) -> list[int]:
    """The principle stream's prompt of a reply (just the question for a plain reply), as the engine builds it."""
    request = GenerationRequest(
        messages=[{"role": "user", "content": question}],
        principles=[Principle(text) for text in principle_texts],
        config=GenerationConfig.from_dict({"alpha": 0.0}),
    )
    return stream_token_ids(tokenizer, request)[0]


def score_rows(model, tokenizer, rows: Sequence[dict], texts_by_name: dict[str, str], label_of) -> list[ScoredReply]:
    scored = []
    for row in rows:
        prompt = prompt_ids_for(tokenizer, row["question"], [texts_by_name[name] for name in row["principles"]])
        reply_ids = tokenizer(row["text"], add_special_tokens=False)["input_ids"]
        scored.append(ScoredReply(label_of(row), reply_nll(model, prompt, reply_ids), len(reply_ids)))
    return scored


def summary_rows(scored: Sequence[ScoredReply], high: float) -> list[list[str]]:
    """Per label, in first-seen order: replies, mean NLL per token (token-weighted), perplexity, share above `high`."""
    labels = list(dict.fromkeys(item.label for item in scored))
    rows = []
    for label in labels:
        items = [item for item in scored if item.label == label and item.tokens]
        total = sum(item.tokens for item in items)
        mean_nll = sum(item.nll * item.tokens for item in items) / total if total else 0.0
        above = sum(math.exp(item.nll) > high for item in items) / len(items) if items else 0.0
        rows.append([label, str(len(items)), f"{mean_nll:.3f}", f"{math.exp(mean_nll):.2f}", f"{above:.0%}"])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="JSONL files written by bench/quality.py --save")
    parser.add_argument("--principles", default=DEFAULT_PRINCIPLES)
    parser.add_argument("--model", default=None)
    parser.add_argument("--high", type=float, default=20.0, help="a reply's perplexity counted as high above this")
    args = parser.parse_args(argv)

    from alignment_engine.models import load_model, resolve_model_path

    loaded = load_model(resolve_model_path(args.model), device="cpu")
    texts_by_name = {p.name: p.text for p in load_principles(args.principles).principles}
    scored: list[ScoredReply] = []
    for path in args.files:
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        scored += score_rows(
            loaded.model, loaded.tokenizer, rows, texts_by_name, lambda row, path=path: f"{path}: {row['mode']}"
        )
    header = ["file: mode", "replies", "mean NLL per token", "perplexity", f"replies above {args.high:g}"]
    print(markdown_table(header, summary_rows(scored, args.high)))


if __name__ == "__main__":
    main()

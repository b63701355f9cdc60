"""Rules kept exactly: rule principles decoded by prompting, by Linear Alignment alone, and with their rules on.

    python -m bench.rules [--split tune|report] [--questions 4] [--max-new-tokens 64] [--backend llamacpp|torch]
        [--principles bench/rule_principles.json] [--modes prompt la la+rules rules] [--alpha 3] [--batch-size 8]

Each principle of the file ({"name", "text", "rules"?}: explicit rules, else those `recognise_rules` finds in
the text) is paired with every question of the split (`bench.quality.split_questions`: choose settings on
`tune`, report `report`), and each combination too. Modes:
- prompt: the principles in the system message, alpha 0, no rules enforced;
- la: Linear Alignment at `--alpha`, no rules enforced;
- la+rules: Linear Alignment with the principles carrying their rules and steering too (`steer=True`);
- rules: the rules enforced without their principles (the rule principles dropped from the prompt and the
  contrast): what the engine does by default with a principle whose every sentence states a rule it holds
  (`Principle.steer=None`, `rule_recognition.states_only_rules`), chosen on this benchmark.
Per mode: rule adherence (replies that keep every rule, checked by `rules.rule_satisfied`), the degenerate share
(repeated word 4-gram share > 0.3), distinct-2, the mean log-probability per token of the reply under the
unconstrained model (the plain model given only the question; gibberish forced by a rule shows as a low value;
always scored with the torch model), the share of replies that end on their own, and tokens/s.
Principles whose text yields no rule and that set none are reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from alignment_engine import DEFAULT_ALPHA, GenerationConfig, GenerationRequest, Principle, load_engine  # noqa: E402
from alignment_engine.rule_recognition import recognise_rules  # noqa: E402
from alignment_engine.rules import Rule, parse_rules, rule_satisfied  # noqa: E402
from bench.common import default_data_path, load_questions, markdown_table  # noqa: E402
from bench.quality import split_questions  # noqa: E402
from bench.scoring import distinct_n, is_degenerate  # noqa: E402

DEFAULT_PRINCIPLES = str(Path(__file__).with_name("rule_principles.json"))
MODES = ("prompt", "la", "la+rules", "rules")


@dataclass(frozen=True)
class RulePrinciple:
    name: str
    text: str
    rules: tuple[Rule, ...]
    explicit: bool


@dataclass
class Record:
    mode: str
    names: tuple[str, ...]
    question: int
    text: str
    finish_reason: str
    tokens: int
    seconds: float
    kept: bool
    log_probability: float = 0.0


def load_rule_principles(path: str) -> tuple[list[RulePrinciple], list[tuple[str, ...]], list[str]]:
    """(principles with rules, combinations of their names, names of principles skipped for having none)."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    kept, skipped = [], []
    for item in data["principles"]:
        explicit = "rules" in item
        rules = parse_rules(item["rules"]) if explicit else recognise_rules(item["text"])
        if rules:
            kept.append(RulePrinciple(item["name"], item["text"], rules, explicit))
        else:
            skipped.append(item["name"])
    names = {p.name for p in kept}
    combinations = [tuple(c) for c in data.get("combinations", []) if set(c) <= names]
    return kept, combinations, skipped


def build_request(
    question: str, principles: Sequence[RulePrinciple], mode: str, alpha: float, max_new_tokens: int
) -> GenerationRequest:
    config = GenerationConfig(alpha=0.0 if mode == "prompt" else alpha, max_new_tokens=max_new_tokens)
    messages = [{"role": "user", "content": question}]
    if mode == "rules":
        rules = tuple(rule for p in principles for rule in p.rules)
        return GenerationRequest(messages=messages, config=config, rules=tuple(dict.fromkeys(rules)))
    with_rules = mode == "la+rules"
    entries = [Principle(p.text, rules=p.rules, steer=True) if with_rules else Principle(p.text) for p in principles]
    return GenerationRequest(messages=messages, principles=entries, config=config)


def generate(
    engine,
    principles: list[RulePrinciple],
    combinations: list[tuple[str, ...]],
    questions: list[str],
    modes: Sequence[str],
    alpha: float,
    max_new_tokens: int,
    batch_size: int,
) -> list[Record]:
    by_name = {p.name: p for p in principles}
    sets = [(p.name,) for p in principles] + combinations
    jobs = []
    for index, question in enumerate(questions):
        for mode in modes:
            for names in sets:
                chosen = [by_name[name] for name in names]
                try:
                    request = build_request(question, chosen, mode, alpha, max_new_tokens)
                except ValueError as error:  # an impossible combination: refused, reported, not decoded
                    print(f"  refused {names}: {error}", file=sys.stderr)
                    continue
                jobs.append((mode, names, index, chosen, request))
    records: list[Record] = []
    started = time.perf_counter()
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        results = engine.generate_batch([job[4] for job in chunk])
        for (mode, names, index, chosen, _), result in zip(chunk, results, strict=True):
            kept = all(rule_satisfied(rule, result.text) for p in chosen for rule in p.rules)
            records.append(
                Record(mode, names, index, result.text, result.finish_reason, result.tokens, result.seconds, kept)
            )
        print(
            f"  [{engine.backend}] {len(records)}/{len(jobs)} replies, {time.perf_counter() - started:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    return records


@torch.inference_mode()
def score_log_probabilities(scorer, questions: list[str], records: list[Record]) -> None:
    """Mean log-probability per token of each reply under the plain model given only the question."""
    tokenizer, model = scorer.tokenizer, scorer.model
    for record in records:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": questions[record.question]}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(record.text, add_special_tokens=False)["input_ids"]
        if not reply_ids:
            record.log_probability = 0.0
            continue
        ids = torch.tensor([prompt_ids + reply_ids], device=model.device)
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
        chosen = torch.log_softmax(logits, dim=-1).gather(-1, ids[0, len(prompt_ids) :, None])
        record.log_probability = float(chosen.mean())


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summary(records: list[Record], modes: Sequence[str]) -> str:
    rows = []
    for mode in modes:
        group = [r for r in records if r.mode == mode]
        if not group:
            continue
        rows.append(
            [
                mode,
                str(len(group)),
                f"{100 * mean([r.kept for r in group]):.0f}%",
                f"{100 * mean([is_degenerate(r.text) for r in group]):.0f}%",
                f"{mean([distinct_n(r.text, 2) for r in group]):.2f}",
                f"{mean([r.log_probability for r in group]):.2f}",
                f"{100 * mean([r.finish_reason in ('eos', 'stop') for r in group]):.0f}%",
                f"{mean([len(r.text.split()) for r in group]):.0f}",
                f"{sum(r.tokens for r in group) / max(sum(r.seconds for r in group), 1e-9):.1f}",
            ]
        )
    header = [
        "mode",
        "replies",
        "rules kept",
        "degenerate",
        "distinct-2",
        "log p / token",
        "ended",
        "words",
        "tokens/s (per request, batched; noisy)",
    ]
    return markdown_table(header, rows)


def per_principle(records: list[Record], modes: Sequence[str]) -> str:
    sets = list(dict.fromkeys(r.names for r in records))
    rows = []
    for names in sets:
        row = ["+".join(names)]
        for mode in modes:
            group = [r for r in records if r.mode == mode and r.names == names]
            row.append(f"{100 * mean([r.kept for r in group]):.0f}%" if group else "-")
        rows.append(row)
    return markdown_table(["principles", *modes], rows)


def save(path: str | None, records: list[Record]) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.__dict__, ensure_ascii=False) + "\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("tune", "report"), default="report")
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--backend", choices=("llamacpp", "torch"), default="llamacpp")
    parser.add_argument("--principles", default=DEFAULT_PRINCIPLES, help="JSON file of rule principles")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--data", default=None, help="questions JSONL (default: the personal-preference set)")
    parser.add_argument("--save", help="write every reply as JSONL here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    principles, combinations, skipped = load_rule_principles(args.principles)
    questions = split_questions(load_questions(args.data or default_data_path()), args.split)[: args.questions]
    engine = load_engine(backend=args.backend)
    records = generate(
        engine, principles, combinations, questions, args.modes, args.alpha, args.max_new_tokens, args.batch_size
    )
    save(args.save, records)  # before scoring, so the replies survive an interrupted scoring pass
    scorer = engine if args.backend == "torch" else load_engine(backend="torch")
    torch.set_num_threads(getattr(engine.runner, "token_choice_threads", None) or torch.get_num_threads())
    score_log_probabilities(scorer, questions, records)
    save(args.save, records)
    print(
        f"## Rules: {args.backend}, {args.split} split, {len(questions)} questions, {args.max_new_tokens} new "
        f"tokens, alpha {args.alpha:g}"
    )
    recognised = sum(not p.explicit for p in principles)
    print(
        f"{len(principles)} rule principles ({recognised} recognised from their text, "
        f"{len(principles) - recognised} set explicitly), {len(combinations)} combinations"
        + (f"; skipped (no rule): {', '.join(skipped)}" if skipped else "")
    )
    print()
    print(summary(records, args.modes))
    print()
    print(per_principle(records, args.modes))


if __name__ == "__main__":
    main()

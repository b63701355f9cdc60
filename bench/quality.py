"""Reply quality: do principles get followed, and do replies stay fluent and end on their own?

    python -m bench.quality [--split tune|report] [--questions 12] [--max-new-tokens 128|256]
        [--backend llamacpp|torch|both] [--modes none prompt la] [--alphas 3 1 5]
        [--principles bench/principles.json] [--only NAME ...] [--set key=value ...] [--guard SPEC ...]

Questions come from the personal-preference set, split deterministically: questions at even positions of the
file are the tuning half, odd positions the reported half (choose settings on `tune`, report `report`).
Each principle of the principle file is paired with every question alone, and each combination (2 or 3
principles in one request) too, with every principle of the combination scored. Modes: no principle,
prompting (the principles in the system message, alpha 0), and Linear Alignment at each alpha.
Per mode: graded adherence (0..1 per reply, mean in %), the degenerate share (replies whose repeated word
4-gram share exceeds 0.3), distinct-2, the share of replies that end on their own (eos/stop rather than the
token limit), mean length and tokens/s. `--set` passes generation settings to GenerationConfig.from_dict;
The engine's repetition guard (DRY, on by default) is part of the settings: `--compare-guard-off` adds a pass with
it off (dry_multiplier=0) in the same run. `--guard` (EXPERIMENTAL, bench/guard.py) wraps a further guard
variant around the engine's token choice, on top of the engine's own (combine it with --set dry_multiplier=0).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignment_engine import DEFAULT_ALPHA, GenerationConfig, GenerationRequest, Principle  # noqa: E402
from bench.common import default_data_path, load_questions, markdown_table  # noqa: E402
from bench.guard import GuardSettings, guarded  # noqa: E402
from bench.scoring import PrincipleSet, Reply, ScoredPrinciple, distinct_n, is_degenerate, load_principles  # noqa: E402

DEFAULT_PRINCIPLES = str(Path(__file__).with_name("principles.json"))
SPLITS = ("tune", "report")
MODES = ("none", "prompt", "la")


def split_questions(questions: Sequence[str], split: str) -> list[str]:
    """Even file positions are the tuning half, odd positions the reported half."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    return list(questions[0 if split == "tune" else 1 :: 2])


def parse_setting(item: str) -> tuple[str, object]:
    """ "key=value" with a JSON value (numbers, true/false, lists), else the raw string."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set needs key=value, got {item!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


@dataclass(frozen=True)
class Mode:
    label: str
    alpha: float | None  # None: no principle in the request at all

    @property
    def key(self) -> str:
        return self.label


def build_modes(modes: Sequence[str], alphas: Sequence[float]) -> list[Mode]:
    built = []
    for mode in modes:
        if mode == "none":
            built.append(Mode("no principle", None))
        elif mode == "prompt":
            built.append(Mode("prompting (alpha 0)", 0.0))
        elif mode == "la":
            built.extend(Mode(f"LA alpha {a:g}{' (default)' if a == DEFAULT_ALPHA else ''}", a) for a in alphas)
        else:
            raise ValueError(f"unknown mode {mode!r} ({', '.join(MODES)})")
    return built


def principle_sets(principles: PrincipleSet) -> list[tuple[str, ...]]:
    """Every single principle, then every combination, as tuples of names."""
    return [(p.name,) for p in principles.principles] + list(principles.combinations)


@dataclass
class Record:
    """One generated reply with what it was asked for."""

    backend: str
    guard: str
    mode: str
    names: tuple[str, ...]
    question: int
    reply: Reply
    seconds: float = 0.0


def generate(
    engine,
    principles: PrincipleSet,
    questions: list[str],
    modes: list[Mode],
    settings: dict,
    guard: GuardSettings,
    batch_size: int,
    label: str | None = None,
    partial: str | None = None,
) -> tuple[list[Record], float]:
    """Every (mode, principle set, question) reply of one backend under one guard; returns them and the wall s."""
    jobs: list[tuple[Mode, tuple[str, ...], int, GenerationRequest]] = []
    for index, question in enumerate(questions):
        messages = [{"role": "user", "content": question}]
        for mode in modes:
            config = GenerationConfig.from_dict({**settings, "alpha": mode.alpha or 0.0})
            if mode.alpha is None:
                jobs.append((mode, (), index, GenerationRequest(messages=messages, config=config)))
                continue
            for names in principle_sets(principles):
                texts = [Principle(principles.by_name(name).text) for name in names]
                jobs.append((mode, names, index, GenerationRequest(messages=messages, principles=texts, config=config)))
    records: list[Record] = []
    started = time.perf_counter()
    label = guard.name if guard.active or label is None else label
    with guarded(engine, guard):
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            chunk_started = time.perf_counter()
            results = engine.generate_batch([job[3] for job in chunk])
            seconds = time.perf_counter() - chunk_started
            for (mode, names, index, _), result in zip(chunk, results, strict=True):
                reply = Reply(result.text, result.finish_reason, result.tokens)
                records.append(Record(engine.backend, label, mode.key, names, index, reply, seconds))
            if partial:  # each finished chunk at once, so a long run that is stopped keeps what it made
                save(partial, records[-len(chunk) :], questions, append=True)
            done = min(start + batch_size, len(jobs))
            print(
                f"  [{engine.backend} {label}] {done}/{len(jobs)} replies, {time.perf_counter() - started:.0f}s",
                file=sys.stderr,
                flush=True,
            )
    return records, time.perf_counter() - started


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def percent(value: float) -> str:
    return "-" if value != value else f"{value:.0%}"


def adherence(records: list[Record], principle: ScoredPrinciple, size: int) -> list[float]:
    """Scores of `principle` over the replies whose request held `size` principles including it (size 1: alone;
    for the no-principle mode every reply is scored against every principle)."""
    scores = []
    for record in records:
        if record.names == () and size == 1 or len(record.names) == size and principle.name in record.names:
            scores.append(principle.score(record.reply))
    return scores


def summary_table(
    records: list[Record], principles: PrincipleSet, modes: list[Mode], wall: dict, bonus_from: int | None = None
) -> str:
    """`bonus_from`: the token count from which the end bonus acts (None: off or unknown); replies that ended
    on their own before it get a column of their own, so what the bonus adds to the ended share shows."""
    sizes = sorted({len(c) for c in principles.combinations})
    header = [
        "backend",
        "guard",
        "mode",
        "mean adherence (1 principle)",
        *(f"adherence in {size}-principle sets" for size in sizes),
        "every scored principle (alone and in sets)",
        "degenerate",
        "distinct-2",
        "ended on its own",
        *(["ended before the end bonus"] if bonus_from is not None else []),
        "mean tokens",
        "tokens/s",
    ]
    rows = []
    for (backend, guard), group in grouped(records, lambda r: (r.backend, r.guard)).items():
        seconds = wall.get((backend, guard))
        tokens_per_second = f"{sum(r.reply.tokens for r in group) / seconds:.1f}" if seconds else "-"
        for mode in modes:
            picked = [r for r in group if r.mode == mode.key]
            if not picked:
                continue
            alone = [adherence(picked, p, 1) for p in principles.principles]
            single = mean([mean(scores) for scores in alone])
            in_sets, every_score = [], [s for scores in alone for s in scores]
            for size in sizes:
                members = [
                    p
                    for p in principles.principles
                    if any(p.name in c for c in principles.combinations if len(c) == size)
                ]
                scores = [s for p in members for s in adherence(picked, p, size)]
                every_score += scores
                in_sets.append(percent(mean(scores)) if mode.alpha is not None else "-")
            rows.append(
                [
                    backend,
                    guard,
                    mode.label,
                    percent(single),
                    *in_sets,
                    percent(mean(every_score)) if mode.alpha is not None else "-",
                    percent(mean([is_degenerate(r.reply.text) for r in picked])),
                    f"{mean([distinct_n(r.reply.text, 2) for r in picked]):.3f}",
                    percent(mean([r.reply.ended for r in picked])),
                    *(
                        [percent(mean([r.reply.ended and r.reply.tokens <= bonus_from for r in picked]))]
                        if bonus_from is not None
                        else []
                    ),
                    f"{mean([r.reply.tokens for r in picked]):.1f}",
                    tokens_per_second if mode is modes[0] else "",
                ]
            )
    return markdown_table(header, rows)


def principle_table(records: list[Record], principles: PrincipleSet, modes: list[Mode]) -> str:
    """Adherence of each principle asked alone, per mode."""
    header = ["backend", "guard", "mode", *(p.name for p in principles.principles)]
    rows = []
    for (backend, guard), group in grouped(records, lambda r: (r.backend, r.guard)).items():
        for mode in modes:
            picked = [r for r in group if r.mode == mode.key]
            if picked:
                rows.append(
                    [
                        backend,
                        guard,
                        mode.label,
                        *(percent(mean(adherence(picked, p, 1))) for p in principles.principles),
                    ]
                )
    return markdown_table(header, rows)


def combination_table(records: list[Record], principles: PrincipleSet, modes: list[Mode]) -> str:
    """Per combination: each member's adherence inside the set, and its adherence when asked alone."""
    header = [
        "backend",
        "guard",
        "mode",
        "set",
        "adherence per principle in the set (alone)",
        "set mean",
        "degenerate",
        "ended",
    ]
    rows = []
    for (backend, guard), group in grouped(records, lambda r: (r.backend, r.guard)).items():
        for mode in modes:
            if mode.alpha is None:
                continue
            picked = [r for r in group if r.mode == mode.key]
            for combo in principles.combinations:
                in_set = [r for r in picked if r.names == combo]
                if not in_set:
                    continue
                members = [principles.by_name(name) for name in combo]
                parts, means = [], []
                for member in members:
                    inside = mean([member.score(r.reply) for r in in_set])
                    alone = mean([member.score(r.reply) for r in picked if r.names == (member.name,)])
                    parts.append(f"{member.name} {percent(inside)} ({percent(alone)})")
                    means.append(inside)
                rows.append(
                    [
                        backend,
                        guard,
                        mode.label,
                        " + ".join(combo),
                        "; ".join(parts),
                        percent(mean(means)),
                        percent(mean([is_degenerate(r.reply.text) for r in in_set])),
                        percent(mean([r.reply.ended for r in in_set])),
                    ]
                )
    return markdown_table(header, rows)


def grouped(records: list[Record], key) -> dict:
    groups: dict = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return dict(groups)


def save(path: str, records: list[Record], questions: list[str], append: bool = False) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as handle:
        for r in records:
            row = {
                "backend": r.backend,
                "guard": r.guard,
                "mode": r.mode,
                "principles": list(r.names),
                "question": questions[r.question],
                "question_index": r.question,
                "text": r.reply.text,
                "finish_reason": r.reply.finish_reason,
                "tokens": r.reply.tokens,
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_records(paths: Sequence[str], questions: int | None = None) -> tuple[list[Record], list[Mode]]:
    """Replies saved by --save (the first `questions` questions of each file), and their modes in file order."""
    records, labels = [], []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if questions is not None and row["question_index"] >= questions:
                    continue
                reply = Reply(row["text"], row["finish_reason"], row["tokens"])
                records.append(
                    Record(
                        row["backend"],
                        row["guard"],
                        row["mode"],
                        tuple(row["principles"]),
                        row["question_index"],
                        reply,
                    )
                )
                if row["mode"] not in labels:
                    labels.append(row["mode"])
    return records, [Mode(label, None if label == "no principle" else 0.0) for label in labels]


def guard_label(settings: dict) -> str:
    """How the engine's own repetition guard is set in `settings` (the Record's guard column)."""
    config = GenerationConfig.from_dict({**settings, "alpha": 0.0})
    if not config.guard_on:
        return "guard off"
    if config == GenerationConfig.from_dict({"alpha": 0.0, "max_new_tokens": config.max_new_tokens}):
        return "guard (defaults)"
    return f"guard (DRY {config.dry_multiplier:g})"


def settings_variants(settings: dict, compare_guard_off: bool) -> list[tuple[str, dict]]:
    """The settings to run: as given, and with the engine's guard off when asked to compare."""
    variants = [(guard_label(settings), settings)]
    if compare_guard_off:
        variants.append(("guard off", {**settings, "dry_multiplier": 0}))
    return variants


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--split", choices=SPLITS, default="tune")
    parser.add_argument("--questions", type=int, default=8, help="questions of the split (each half has 100)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--backend", choices=("llamacpp", "torch", "both"), default="llamacpp")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=[DEFAULT_ALPHA, 1.0, 5.0],
        help="Linear Alignment strengths (the default and two others)",
    )
    parser.add_argument(
        "--principles", default=DEFAULT_PRINCIPLES, help="principle file (JSON, see bench/principles.json)"
    )
    parser.add_argument("--only", nargs="+", help="only these principles (combinations keep only fully kept ones)")
    parser.add_argument("--no-combinations", action="store_true")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=parse_setting,
        default=[],
        metavar="KEY=VALUE",
        help="generation setting for GenerationConfig.from_dict (repeatable)",
    )
    parser.add_argument(
        "--guard",
        action="append",
        type=GuardSettings.parse,
        metavar="SPEC",
        help="EXPERIMENTAL repetition guard variant (repeatable; 'off' = none), e.g. "
        "'dry08:dry_multiplier=0.8,dry_breakers=none,placement=streams'",
    )
    parser.add_argument(
        "--compare-guard-off",
        action="store_true",
        help="also run every backend with the engine's repetition guard off (dry_multiplier=0)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="requests per generate_batch call")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--save", help="write every reply as JSONL here (and each finished chunk to SAVE.partial)")
    parser.add_argument(
        "--from-jsonl",
        nargs="+",
        metavar="FILE",
        help="score replies saved by --save instead of generating (--questions limits them)",
    )
    return parser.parse_args(argv)


def selected_principles(args: argparse.Namespace) -> PrincipleSet:
    principles = load_principles(args.principles)
    if args.only:
        unknown = set(args.only) - {p.name for p in principles.principles}
        if unknown:
            raise SystemExit(f"--only: unknown principles {sorted(unknown)}")
        kept = [p for p in principles.principles if p.name in args.only]
        combos = [c for c in principles.combinations if set(c) <= set(args.only)]
        principles = PrincipleSet(kept, combos)
    if args.no_combinations:
        principles = PrincipleSet(principles.principles, [])
    return principles


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from alignment_engine import load_engine

    principles = selected_principles(args)
    settings = {**dict(args.settings), "max_new_tokens": args.max_new_tokens}
    config = GenerationConfig.from_dict({**settings, "alpha": 0.0})  # fail before loading anything
    bonus_from = math.ceil(config.end_bonus_start * config.max_new_tokens) if config.end_bonus > 0 else None
    if args.from_jsonl:  # scored with the settings given (--max-new-tokens, --set) for the end-bonus column
        records, modes = load_records(args.from_jsonl, args.questions)
        wanted = principle_sets(principles)
        records = [r for r in records if not r.names or r.names in wanted]
        print_tables(records, principles, modes, {}, bonus_from)
        return
    questions = split_questions(load_questions(args.data), args.split)[: args.questions]
    modes = build_modes(args.modes, args.alphas)
    guards = args.guard or [GuardSettings()]
    backends = ["llamacpp", "torch"] if args.backend == "both" else [args.backend]
    records: list[Record] = []
    wall: dict = {}
    for backend in backends:
        engine = load_engine(model=args.model, backend=backend, device=args.device)
        for guard in guards:
            for label, variant in settings_variants(settings, args.compare_guard_off):
                generated, seconds = generate(
                    engine,
                    principles,
                    questions,
                    modes,
                    variant,
                    guard,
                    args.batch_size,
                    label,
                    args.save and args.save + ".partial",
                )
                records.extend(generated)
                wall[(engine.backend, generated[0].guard if generated else label)] = seconds
    if args.save:
        save(args.save, records, questions)
    extra = " ".join(f"{k}={v}" for k, v in args.settings)
    print(
        f"split={args.split} questions={len(questions)} max_new_tokens={args.max_new_tokens} "
        f"principles={args.principles} ({len(principles.principles)} + {len(principles.combinations)} sets) "
        f"{extra or 'engine defaults'}"
    )
    for guard in guards:
        if guard.active:
            print(f"guard {guard.name}: {guard}")
    print_tables(records, principles, modes, wall, bonus_from)


def print_tables(
    records: list[Record], principles: PrincipleSet, modes: list[Mode], wall: dict, bonus_from: int | None = None
) -> None:
    print("\n" + summary_table(records, principles, modes, wall, bonus_from))
    print("\n" + principle_table(records, principles, modes))
    if principles.combinations:
        print("\n" + combination_table(records, principles, modes))


if __name__ == "__main__":
    main()

"""Does Linear Alignment follow principles better than prompting, without wrecking fluency?

    python -m bench.quality [--questions 8] [--max-new-tokens 48] [--alphas 1 2 3 5] [--data PATH]

On questions from the personal-preference set, each principle below has an automatic check. Three modes are
compared side by side: no principle, the principle in the system prompt (alpha = 0), and Linear Alignment at
several alphas. Degeneration is the share of repeated word 3-grams in a reply (0 = none repeated).
"""
from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignment_engine import GenerationConfig, GenerationRequest, GenerationResult, Principle  # noqa: E402
from bench.common import default_data_path, load_questions, markdown_table  # noqa: E402

FRENCH = set("le la les un une des et est en du de pour que qui dans pas vous nous il elle sont avec sur au aux ce ces plus votre vos être peut".split())
ENGLISH = set("the a an and is are of to in for that with you your it this be can on as or by not".split())
BULLET = re.compile(r"^\s*([-*•])\s+\S", re.MULTILINE)
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def is_concise(result: GenerationResult) -> bool:
    return len(words(result.text)) <= 25


def is_verbose(result: GenerationResult) -> bool:
    return result.finish_reason == "length"


def is_french(result: GenerationResult) -> bool:
    tokens = words(result.text)
    return sum(w in FRENCH for w in tokens) > sum(w in ENGLISH for w in tokens)


PIRATE = {"arr", "arrr", "ahoy", "matey", "mateys", "ye", "aye", "avast", "landlubber", "landlubbers", "yo", "ho", "booty", "hearty", "hearties", "sail", "ship", "captain", "treasure", "sea", "seas", "pirate", "pirates"}


def is_pirate(result: GenerationResult) -> bool:
    return sum(w in PIRATE for w in words(result.text)) >= 2


def is_enthusiastic(result: GenerationResult) -> bool:
    return "!" in result.text


def is_uppercase(result: GenerationResult) -> bool:
    letters = [c for c in result.text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.9 * len(letters)


def is_bulleted(result: GenerationResult) -> bool:
    return len(BULLET.findall(result.text)) >= 2


@dataclass(frozen=True)
class Check:
    name: str
    principle: str
    passes: Callable[[GenerationResult], bool]


CHECKS = [
    Check("concise (<=25 words)", "Your answer should be concise as much as possible.", is_concise),
    Check("verbose (hits the limit)", "Your answer should be verbose as much as possible.", is_verbose),
    Check("French", "Always reply in French.", is_french),
    Check("pirate (>=2 pirate words)", "Talk like a pirate.", is_pirate),
    Check("enthusiastic (uses !)", "Be very enthusiastic and use exclamation marks.", is_enthusiastic),
]
# Checked too, but SmolLM2-135M follows neither in any mode (0 % everywhere), so they are off by default.
EXTRA_CHECKS = [
    Check("UPPERCASE", "Write your whole answer in uppercase letters.", is_uppercase),
    Check("bullets (- or *)", "Format your answer as a bulleted list using dashes.", is_bulleted),
]


def repeated_trigram_rate(text: str) -> float:
    tokens = words(text)
    trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    return 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0


def run(engine, questions: list[str], alphas: list[float], config: dict, batch_size: int, checks: list[Check]) -> dict:
    """Generates every (mode, principle, question) reply with generate_batch; returns results by key."""
    from tqdm import tqdm

    jobs: list[tuple[tuple, GenerationRequest]] = []
    for index, question in enumerate(questions):
        messages = [{"role": "user", "content": question}]
        jobs.append((("none", None, index), GenerationRequest(messages=messages, config=GenerationConfig(**config))))
        for check in checks:
            for alpha in [0.0, *alphas]:
                request = GenerationRequest(
                    messages=messages, principles=[Principle(check.principle)],
                    config=GenerationConfig(**{**config, "alpha": alpha}),
                )
                jobs.append(((alpha, check.name, index), request))
    results = {}
    with tqdm(total=len(jobs), unit="reply") as progress:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            for (key, _), result in zip(chunk, engine.generate_batch([request for _, request in chunk])):
                results[key] = result
            progress.update(len(chunk))
    return results


def table(results: dict, questions: list[str], alphas: list[float], checks: list[Check]) -> str:
    modes = [("no principle", "none"), ("prompt only (alpha=0)", 0.0), *((f"LA alpha={a:g}", a) for a in alphas)]
    header = ["mode", *(c.name for c in checks), "mean adherence", "repeated 3-grams", "mean tokens"]
    rows = []
    for label, mode in modes:
        rates, replies = [], []
        for check in checks:
            picked = [results[(mode, None if mode == "none" else check.name, i)] for i in range(len(questions))]
            rates.append(sum(check.passes(r) for r in picked) / len(picked))
            replies.extend(picked)
        rows.append([
            label, *(f"{rate:.0%}" for rate in rates), f"{sum(rates) / len(rates):.0%}",
            f"{sum(repeated_trigram_rate(r.text) for r in replies) / len(replies):.3f}",
            f"{sum(r.tokens for r in replies) / len(replies):.1f}",
        ])
    return markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=default_data_path())
    parser.add_argument("--questions", type=int, default=8, help="how many questions (the file has 200)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 2.0, 3.0, 5.0])
    parser.add_argument("--repetition-penalty", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32, help="requests per generate_batch call")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--save", help="write every reply as JSONL here")
    parser.add_argument("--extra-checks", action="store_true", help="also score UPPERCASE and bullet lists")
    args = parser.parse_args()
    from alignment_engine import load_engine

    engine = load_engine(model=args.model, backend="torch", device=args.device)
    questions = load_questions(args.data, args.questions)
    config = {"max_new_tokens": args.max_new_tokens, "repetition_penalty": args.repetition_penalty}
    checks = CHECKS + (EXTRA_CHECKS if args.extra_checks else [])
    results = run(engine, questions, args.alphas, config, args.batch_size, checks)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as handle:
            for (mode, check, index), result in results.items():
                row = {"mode": mode, "check": check, "question": questions[index], "text": result.text}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"model={engine.model_id} questions={len(questions)} max_new_tokens={args.max_new_tokens} "
          f"repetition_penalty={args.repetition_penalty} (greedy, T=0.5, top_p=0.8)")
    print(table(results, questions, args.alphas, checks))


if __name__ == "__main__":
    main()

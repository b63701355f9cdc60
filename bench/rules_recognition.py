"""Precision and recall of the rule recogniser on labelled phrasings.

    python -m bench.rules_recognition [--data bench/rule_phrasings.jsonl] [--show-errors]

Each line of the data: {"text": principle, "rule": the rule's JSON form, or null when it must not become a rule,
"set": "heldout" for the phrasings written after the patterns (absent: "dev", the ones the patterns were written
against)}. Precision: of the phrasings given a rule, the share given exactly the labelled rule; recall: of the
phrasings labelled with a rule, the share given it. Reported for the whole set, "dev" and "heldout".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from alignment_engine.rule_recognition import recognise_rule
from alignment_engine.rules import parse_rule
from bench.common import markdown_table

DEFAULT_DATA = Path(__file__).with_name("rule_phrasings.jsonl")


def load_phrasings(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def score(phrasings: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, precision and recall, and the phrasings recognised wrongly."""
    predicted = correct = labelled = 0
    errors = []
    for item in phrasings:
        expected = parse_rule(item["rule"]) if item["rule"] is not None else None
        found = recognise_rule(item["text"])
        labelled += expected is not None
        predicted += found is not None
        if found is not None and found == expected:
            correct += 1
        elif found != expected:
            errors.append({"text": item["text"], "expected": item["rule"], "found": found.to_dict() if found else None})
    return {
        "phrasings": len(phrasings),
        "labelled_rules": labelled,
        "predicted_rules": predicted,
        "correct": correct,
        "precision": correct / predicted if predicted else 1.0,
        "recall": correct / labelled if labelled else 1.0,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    phrasings = load_phrasings(args.data)
    parts = {"all": phrasings}
    for name in ("dev", "heldout"):
        parts[name] = [item for item in phrasings if item.get("set", "dev") == name]
    rows = []
    for name, part in parts.items():
        result = score(part)
        rows.append(
            [
                name,
                result["phrasings"],
                result["labelled_rules"],
                result["predicted_rules"],
                result["correct"],
                f"{result['precision']:.1%}",
                f"{result['recall']:.1%}",
            ]
        )
    print(markdown_table(["set", "phrasings", "labelled rules", "predicted", "correct", "precision", "recall"], rows))
    if args.show_errors:
        for error in score(phrasings)["errors"]:
            print(json.dumps(error, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

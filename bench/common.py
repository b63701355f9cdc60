"""Shared helpers for the benchmarks: evaluation questions and the engine."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_CANDIDATES = (
    REPO.parent / "shared" / "data" / "personal_preference_eval.jsonl",
    REPO / "shared" / "data" / "personal_preference_eval.jsonl",
)


def default_data_path() -> str:
    for candidate in DATA_CANDIDATES:
        if candidate.is_file():
            return str(candidate)
    return str(DATA_CANDIDATES[0])


def load_questions(path: str, limit: int | None = None) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        questions = [json.loads(line)["input"].strip() for line in handle if line.strip()]
    return questions[:limit] if limit else questions


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)

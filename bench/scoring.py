"""Automatic, graded (0..1) scorers for checkable principles, and the fluency metrics of a reply.

A principle file (JSON, see `bench/principles.json`) names a scorer from `SCORERS` and its parameters for each
principle, so new principles with a checkable effect can be benchmarked without code changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Words and single punctuation marks: "- Green:" -> "-", "green", ":" (n-gram metrics see list markers too).
NGRAM_TOKEN = re.compile(r"\w+|[^\w\s]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+\S")

FRENCH = frozenset(
    (
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "et",
        "est",
        "en",
        "du",
        "de",
        "pour",
        "que",
        "qui",
        "dans",
        "pas",
        "vous",
        "nous",
        "il",
        "elle",
        "sont",
        "avec",
        "sur",
        "au",
        "aux",
        "ce",
        "ces",
        "plus",
        "votre",
        "vos",
        "être",
        "peut",
        "ou",
        "mais",
        "très",
        "aussi",
        "comme",
        "faire",
        "son",
        "sa",
        "ses",
        "leur",
    )
)
ENGLISH = frozenset(
    (
        "the",
        "a",
        "an",
        "and",
        "is",
        "are",
        "of",
        "to",
        "in",
        "for",
        "that",
        "with",
        "you",
        "your",
        "it",
        "this",
        "be",
        "can",
        "on",
        "as",
        "or",
        "by",
        "not",
    )
)
PIRATE = frozenset(
    (
        "arr",
        "arrr",
        "ahoy",
        "matey",
        "mateys",
        "ye",
        "aye",
        "avast",
        "landlubber",
        "landlubbers",
        "yo",
        "ho",
        "booty",
        "hearty",
        "hearties",
        "sail",
        "ship",
        "captain",
        "treasure",
        "sea",
        "seas",
        "pirate",
        "pirates",
        "yer",
        "me",
        "shiver",
        "timbers",
        "plunder",
        "scallywag",
    )
)
# A reply whose share of repeated word 4-grams exceeds this is counted as degenerate (a loop).
DEGENERATE_SHARE = 0.3


@dataclass(frozen=True)
class Reply:
    """What a scorer sees: the text and whether the model ended it or the token limit did."""

    text: str
    finish_reason: str = "eos"
    tokens: int = 0

    @property
    def ended(self) -> bool:
        return self.finish_reason in ("eos", "stop")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def sentences(text: str) -> list[str]:
    return [part for part in (p.strip() for p in SENTENCE_END.split(text)) if any(c.isalnum() for c in part)]


def repeated_ngram_share(text: str, size: int = 4) -> float:
    """Share of the reply's n-grams (words and punctuation) that repeat an earlier one (0 = none)."""
    tokens = NGRAM_TOKEN.findall(text.lower())
    grams = [tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def distinct_n(text: str, size: int = 2) -> float:
    """Distinct n-grams / n-grams of the reply (1 = no n-gram repeated); 1 for replies too short to have any."""
    tokens = NGRAM_TOKEN.findall(text.lower())
    grams = [tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def is_degenerate(text: str) -> bool:
    return repeated_ngram_share(text, 4) > DEGENERATE_SHARE


# Scorers: (reply, **params) -> 0..1 ------------------------------------------------------------------------


def concise(reply: Reply, max_words: int = 25) -> float:
    """1 up to max_words words, then max_words / words."""
    count = len(words(reply.text))
    return 1.0 if count <= max_words else max_words / count


def verbose(reply: Reply, min_words: int = 60) -> float:
    """words / min_words, capped at 1."""
    return min(1.0, len(words(reply.text)) / min_words)


def french(reply: Reply) -> float:
    """Share of French among the French and English function words (0 when there are none)."""
    tokens = words(reply.text)
    fr, en = sum(w in FRENCH for w in tokens), sum(w in ENGLISH for w in tokens)
    return fr / (fr + en) if fr + en else 0.0


def pirate(reply: Reply, min_words: int = 2) -> float:
    """Pirate words / min_words, capped at 1."""
    return min(1.0, sum(w in PIRATE for w in words(reply.text)) / min_words)


def exclamations(reply: Reply, minimum: int = 2) -> float:
    """Exclamation marks / minimum, capped at 1."""
    return min(1.0, reply.text.count("!") / minimum)


def lowercase(reply: Reply) -> float:
    """Share of sentences without any uppercase letter."""
    parts = sentences(reply.text)
    return sum(not any(c.isupper() for c in part) for part in parts) / len(parts) if parts else 0.0


def uppercase(reply: Reply) -> float:
    """Share of letters that are uppercase."""
    letters = [c for c in reply.text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def no_commas(reply: Reply) -> float:
    """Share of sentences without a comma (0 for an empty reply)."""
    parts = sentences(reply.text)
    return sum("," not in part for part in parts) / len(parts) if parts else 0.0


def max_sentences(reply: Reply, limit: int = 2) -> float:
    """1 up to `limit` sentences, then limit / sentences; 0 for an empty reply."""
    count = len(sentences(reply.text))
    if count == 0:
        return 0.0
    return 1.0 if count <= limit else limit / count


def bulleted(reply: Reply, min_items: int = 2) -> float:
    """Share of non-empty lines that are list items ("- ", "* ", "1. "); 0 with fewer than min_items items."""
    lines = [line for line in reply.text.splitlines() if line.strip()]
    items = sum(bool(LIST_ITEM.match(line)) for line in lines)
    return items / len(lines) if items >= min_items else 0.0


def starts_with(reply: Reply, word: str = "Indeed") -> float:
    """1 when the first word is `word` (any case), else 0."""
    first = words(reply.text)[:1]
    return 1.0 if first == [word.lower()] else 0.0


def ends_with_question(reply: Reply) -> float:
    """1 when the reply ends with a question mark, 0.5 when it asks one elsewhere, else 0."""
    text = reply.text.rstrip()
    if text.endswith("?"):
        return 1.0
    return 0.5 if "?" in text else 0.0


SCORERS: dict[str, Callable[..., float]] = {
    "concise": concise,
    "verbose": verbose,
    "french": french,
    "pirate": pirate,
    "exclamations": exclamations,
    "lowercase": lowercase,
    "uppercase": uppercase,
    "no_commas": no_commas,
    "max_sentences": max_sentences,
    "bulleted": bulleted,
    "starts_with": starts_with,
    "ends_with_question": ends_with_question,
}


@dataclass(frozen=True)
class ScoredPrinciple:
    """A principle's text and how to score a reply against it."""

    name: str
    text: str
    scorer: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"principle {self.name!r}: unknown scorer {self.scorer!r} ({', '.join(SCORERS)})")

    def score(self, reply: Reply) -> float:
        return SCORERS[self.scorer](reply, **self.params)


@dataclass(frozen=True)
class PrincipleSet:
    """Principles scored one at a time, and the combinations (2 or 3 names) scored principle by principle."""

    principles: list[ScoredPrinciple]
    combinations: list[tuple[str, ...]]

    def by_name(self, name: str) -> ScoredPrinciple:
        for principle in self.principles:
            if principle.name == name:
                return principle
        raise KeyError(name)


def load_principles(path: str) -> PrincipleSet:
    """Read a principle file: {"principles": [{name, text, scorer, params?}], "combinations": [[name, ...]]}."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    principles = [
        ScoredPrinciple(item["name"], item["text"], item["scorer"], dict(item.get("params", {})))
        for item in data["principles"]
    ]
    names = [p.name for p in principles]
    if len(set(names)) != len(names):
        raise ValueError("principle names must be unique")
    combinations = [tuple(combo) for combo in data.get("combinations", [])]
    for combo in combinations:
        unknown = [name for name in combo if name not in names]
        if unknown or len(combo) < 2:
            raise ValueError(f"combination {list(combo)}: needs >= 2 known principle names (unknown: {unknown})")
    return PrincipleSet(principles, combinations)

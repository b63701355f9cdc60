"""Measurements of one text and whether it satisfies a check, on the engine's own definitions.

Words, sentences, list lines, casing and emoji are counted exactly as ``alignment_engine.rules`` defines them
(the definitions its decoding constraints enforce), so a learned rule means here what it will mean when the
engine keeps it. The three learning-only checks add ``min_sentences`` (same sentence count), ``list_style`` =
``numbered`` (every non-empty line is a numbered item) and ``language`` (py3langid, the langid.py model shipped
inside the package, restricted to the languages ``phrasing`` can name, with normalised probabilities).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from alignment_engine import rules as engine_rules
from preferences.learning.phrasing import LANGUAGE_NAMES, RULE_TYPES

TOKEN_RE = re.compile(r"\S+")
BULLET_RE = re.compile(r"^- \S")
NUMBERED_RE = re.compile(r"^[ \t]*[0-9]+[.)][ \t]+\S")
LIST_ITEM_RE = re.compile(r"^[ \t]*(?:[-*+•]|[0-9]+[.)])[ \t]+")
SENTENCE_END_RE = re.compile(r"[.!?…][\"')\]}”’»]*$")


@dataclass(frozen=True)
class Token:
    """A whitespace-separated piece of text: ``raw`` as written, ``norm`` casefolded letters and digits only."""

    raw: str
    norm: str
    start: int
    end: int

    @property
    def ends_sentence(self) -> bool:
        return SENTENCE_END_RE.search(self.raw) is not None


def tokens(text: str) -> list[Token]:
    """Tokens that carry a word (pure punctuation, list markers and emoji are left out)."""
    found = []
    for match in TOKEN_RE.finditer(text):
        norm = "".join(char for char in match.group().casefold() if char.isalnum())
        if norm:
            found.append(Token(match.group(), norm, match.start(), match.end()))
    return found


def words(text: str) -> list[str]:
    """Words as the learner names them (letters, digits and inner apostrophes), casefolded."""
    return [word.casefold() for word in re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text)]


def word_count(text: str) -> int:
    return engine_rules.count_words(text)


def sentence_count(text: str) -> int:
    return engine_rules.count_sentences(text)


def lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def bullet_lines(text: str) -> int:
    return sum(1 for line in lines(text) if BULLET_RE.match(line))


def list_lines(text: str) -> int:
    return sum(1 for line in lines(text) if LIST_ITEM_RE.match(line))


def list_style(text: str) -> str:
    """``bullets`` (every non-empty line a "- " item), ``numbered`` (every one numbered), ``none`` or ``mixed``."""
    if not lines(text):
        return "none"
    if not engine_rules.bullets_violated(text.strip("\n")):
        return "bullets"
    if all(NUMBERED_RE.match(line) for line in lines(text)):
        return "numbered"
    return "mixed" if engine_rules.list_items_present(text) else "none"


def letter_case_counts(text: str) -> tuple[int, int]:
    """(upper- or title-case letters, lower-case letters), as the casing rule counts them."""
    return len(engine_rules.UPPER_LETTER.findall(text)), len(engine_rules.LOWER_LETTER.findall(text))


def emoji_count(text: str) -> int:
    return len(engine_rules.EMOJI_CHAR.findall(text.replace("\ufe0f", "").replace("\u20e3", "")))


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(sorted(LANGUAGE_NAMES))
    return identifier


def language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of the text's language among ``phrasing.LANGUAGE_NAMES``."""
    code, probability = _identifier().classify(text)
    return str(code), float(probability)


def satisfies(check: Mapping[str, Any], text: str) -> bool:
    """Whether ``text`` does what ``check`` asks: the engine's ``rule_satisfied`` for its rule types."""
    kind = check["type"]
    if kind in RULE_TYPES and not (kind == "list_style" and check.get("value") == "numbered"):
        return engine_rules.rule_satisfied(engine_rules.parse_rule(dict(check)), text)
    if kind == "min_sentences":
        return sentence_count(text) >= check["value"]
    if kind == "list_style":
        return list_style(text) == "numbered"
    if kind == "language":
        return word_count(text) < 3 or language(text)[0] == check["value"]
    raise ValueError(f"unknown check type {kind!r}")

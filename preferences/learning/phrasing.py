"""Checkable preferences in words and back: the one place where a check dict becomes a principle's text.

A *check* is a small dict that a text either satisfies or not (``measures.satisfies``). Its types are those of
the engine's rules vocabulary (``alignment_engine.rules``: ``max_sentences``, ``max_words``, ``forbidden``,
``casing``, ``opening``, ``closing``, ``list_style``, ``no_emoji``) plus three that only learning uses
(``min_sentences``, ``language``, ``list_style`` = ``numbered``). ``principle_text`` words a check as a principle
the engine can follow; ``check_from_text`` reads a principle back (the engine's rule recognition, then this
module's own wordings), so principles that users wrote themselves can be checked too. Unknown text gives
``None``: a principle without a check is never contradicted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alignment_engine.rule_recognition import recognise_rule
from alignment_engine.rules import RULE_TYPES, parse_rule

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
PUNCTUATION_NAMES = {
    "!": "exclamation marks",
    "?": "question marks",
    ",": "commas",
    ";": "semicolons",
    ":": "colons",
    "—": "em dashes",
    "…": "ellipses",
}
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "sv": "Swedish",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "zh": "Chinese",
}


def number_in_words(number: int) -> str:
    return NUMBER_WORDS[number] if 0 <= number < len(NUMBER_WORDS) else str(number)


def quote(text: str) -> str:
    return '"' + text + '"'


def _forbidden_text(values: list[str]) -> str:
    if len(values) == 1 and values[0] in PUNCTUATION_NAMES:
        return f"Never use {PUNCTUATION_NAMES[values[0]]}."
    if all(re.fullmatch(r"[^\W_]+(?:['’-][^\W_]+)*", value) for value in values):
        noun = "the word" if len(values) == 1 else "the words"
        return f"Never use {noun} {' or '.join(quote(value) for value in values)}."
    return f"Never write {' or '.join(quote(value) for value in values)}."


def principle_text(check: Mapping[str, Any]) -> str:
    """The principle, in plain English, that asks for what ``check`` tests."""
    kind, value = check["type"], check.get("value")
    if kind == "max_sentences":
        return "Answer in one sentence." if value == 1 else f"Answer in at most {number_in_words(value)} sentences."
    if kind == "max_words":
        return f"Answer in at most {value} words."
    if kind == "min_sentences":
        return f"Give detailed answers of at least {number_in_words(value)} sentences."
    if kind == "forbidden":
        return _forbidden_text(list(value))
    if kind == "casing":
        return {
            "lower": "Write every reply in lowercase letters only.",
            "upper": "Write every reply in capital letters only.",
        }[value]
    if kind == "opening":
        return f"Start every reply with {quote(value)}."
    if kind == "closing":
        return f"End every reply with the line {quote(value)}"
    if kind == "list_style":
        return {
            "bullets": 'Format every reply as a bulleted list: each point on its own line starting with "- ".',
            "numbered": "Format every reply as a numbered list: each point on its own line starting with 1., 2., 3.",
            "none": "Write in plain paragraphs, without bulleted or numbered lists.",
        }[value]
    if kind == "no_emoji":
        return "Never use emoji."
    if kind == "language":
        return f"Reply in {LANGUAGE_NAMES.get(value, value)}."
    raise ValueError(f"unknown check type {kind!r}")


def engine_rule(check: Mapping[str, Any]) -> dict[str, Any] | None:
    """The check as a rule of the engine's vocabulary (its canonical JSON form), or ``None`` when it has none."""
    if check["type"] not in RULE_TYPES or (
        check["type"] == "list_style" and check.get("value") not in ("bullets", "none")
    ):
        return None
    return parse_rule(dict(check)).to_dict()


def check_from_text(text: str) -> dict[str, Any] | None:
    """The check a principle's text asks for: the engine's rule when it recognises one, else a learning-only
    check in the wording ``principle_text`` uses; ``None`` for anything else (it is never contradicted)."""
    rule = recognise_rule(text)
    if rule is not None:
        return rule.to_dict()
    clean = " ".join(text.split())
    match = re.fullmatch(r'Say "(.+)" instead of "(.+)"\.', clean)
    if match:
        return {"type": "forbidden", "value": [match.group(2)], "ignore_case": True}
    for mark, name in PUNCTUATION_NAMES.items():
        if clean == f"Never use {name}.":
            return {"type": "forbidden", "value": [mark], "ignore_case": True}
    if clean == principle_text({"type": "list_style", "value": "none"}):
        return {"type": "list_style", "value": "none"}
    if clean == principle_text({"type": "list_style", "value": "numbered"}):
        return {"type": "list_style", "value": "numbered"}
    match = re.fullmatch(r"Give detailed answers of at least (\w+) sentences\.", clean)
    if match and (match.group(1).isdigit() or match.group(1) in NUMBER_WORDS):
        number = match.group(1)
        return {"type": "min_sentences", "value": int(number) if number.isdigit() else NUMBER_WORDS.index(number)}
    match = re.fullmatch(r"(?:Reply|Answer|Respond|Write)(?: only)? in (\w+)\.?", clean, re.IGNORECASE)
    if match:
        for code, name in LANGUAGE_NAMES.items():
            if name.lower() == match.group(1).lower():
                return {"type": "language", "value": code}
    return None

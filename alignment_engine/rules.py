"""Rules: principles a program can check, kept exactly by decoding constraints (`constraints.py`).

JSON form of each rule (the `type` key picks the kind; other keys are refused):

    {"type": "forbidden", "value": ["very", "!"], "ignore_case": true}   # ignore_case defaults to true
    {"type": "casing", "value": "lower" | "upper"}
    {"type": "opening", "value": "Dear user,"}
    {"type": "closing", "value": "Best regards."}
    {"type": "max_words", "value": 50}
    {"type": "max_sentences", "value": 3}
    {"type": "list_style", "value": "bullets" | "none"}
    {"type": "no_emoji"}

What each rule means is defined once, here, by `rule_satisfied` and the character-level definitions below;
the constraints apply the same definitions token by token:
- forbidden: no value occurs in the text. A value that starts (ends) with a letter, digit or `_` only matches
  where the text has no such character before (after) it, so forbidding "very" leaves "every" alone.
- casing: "lower" means no upper- or title-case letter, "upper" no lower-case letter (caseless scripts pass).
- opening / closing: the reply starts / ends with the value (surrounding whitespace ignored).
- max_words: a word is a whitespace-separated chunk with at least one letter or digit.
- max_sentences: a sentence is a stretch with a letter or digit, ended by `.`, `!`, `?` or `…` (closing quotes or
  brackets may follow) and then whitespace; "3.5" or "e.g.x" do not end one.
- list_style "bullets": every non-empty line starts with "- "; "none": no line starts with a list marker
  (`-`, `*`, `+`, `•`, or digits with `.` or `)`), after optional spaces, followed by a space or tab.
- no_emoji: no emoji character (Unicode Extended_Pictographic or Emoji_Presentation, the emoji variation
  selector U+FE0F and the keycap mark U+20E3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import regex

from alignment_engine.config import InvalidParameterError

MAX_RULE_TEXT = 200  # characters in an opening, a closing or a forbidden value
MAX_FORBIDDEN_VALUES = 50
MAX_COUNT = 10_000  # words or sentences

SENTENCE_END = frozenset(".!?…")
SENTENCE_CLOSERS = frozenset("\"')]}”’»")
LIST_MARKERS = frozenset("-*+•")
EMOJI_CHAR = regex.compile(r"[\p{Extended_Pictographic}\p{Emoji_Presentation}\uFE0F\u20E3]")
UPPER_LETTER = regex.compile(r"[\p{Lu}\p{Lt}]")
LOWER_LETTER = regex.compile(r"\p{Ll}")
_WORD_CHAR = re.compile(r"\w")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|[0-9]+[.)])[ \t]", re.MULTILINE)


@dataclass(frozen=True)
class Forbidden:
    values: tuple[str, ...]
    ignore_case: bool = True
    type = "forbidden"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": list(self.values), "ignore_case": self.ignore_case}


@dataclass(frozen=True)
class Casing:
    value: Literal["lower", "upper"]
    type = "casing"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class Opening:
    value: str
    type = "opening"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class Closing:
    value: str
    type = "closing"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class MaxWords:
    value: int
    type = "max_words"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class MaxSentences:
    value: int
    type = "max_sentences"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class ListStyle:
    value: Literal["bullets", "none"]
    type = "list_style"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class NoEmoji:
    type = "no_emoji"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}


Rule = Forbidden | Casing | Opening | Closing | MaxWords | MaxSentences | ListStyle | NoEmoji
RULE_TYPES = ("forbidden", "casing", "opening", "closing", "max_words", "max_sentences", "list_style", "no_emoji")


# Parsing --------------------------------------------------------------------------------------------------


def parse_rule(data: Any, field: str = "rule") -> Rule:
    """A rule from its JSON form; a malformed one raises InvalidParameterError naming the field."""
    if isinstance(data, (Forbidden, Casing, Opening, Closing, MaxWords, MaxSentences, ListStyle, NoEmoji)):
        return data
    if not isinstance(data, dict):
        raise InvalidParameterError(field, "must be an object with a 'type'")
    kind = data.get("type")
    if kind not in RULE_TYPES:
        raise InvalidParameterError(f"{field}.type", f"must be one of {', '.join(RULE_TYPES)}")
    allowed = (
        {"type", "ignore_case", "value"}
        if kind == "forbidden"
        else {"type"}
        if kind == "no_emoji"
        else {"type", "value"}
    )
    for key in data:
        if key not in allowed:
            raise InvalidParameterError(f"{field}.{key}", f"unknown key for a {kind} rule")
    if kind == "no_emoji":
        return NoEmoji()
    if "value" not in data:
        raise InvalidParameterError(f"{field}.value", "is required")
    value, value_field = data["value"], f"{field}.value"
    if kind == "forbidden":
        ignore_case = data.get("ignore_case", True)
        if not isinstance(ignore_case, bool):
            raise InvalidParameterError(f"{field}.ignore_case", "must be a boolean")
        return Forbidden(_forbidden_values(value, value_field), ignore_case)
    if kind == "casing":
        return Casing(_choice(value, value_field, ("lower", "upper")))
    if kind == "list_style":
        return ListStyle(_choice(value, value_field, ("bullets", "none")))
    if kind in ("opening", "closing"):
        text = _rule_text(value, value_field)
        return Opening(text) if kind == "opening" else Closing(text)
    count = _count(value, value_field)
    return MaxWords(count) if kind == "max_words" else MaxSentences(count)


def parse_rules(data: Any, field: str = "rules") -> tuple[Rule, ...]:
    """A list of rules (each field named `rules[i]...`), checked for compatibility."""
    if not isinstance(data, (list, tuple)):
        raise InvalidParameterError(field, "must be a list of rules")
    rules = tuple(parse_rule(item, f"{field}[{index}]") for index, item in enumerate(data))
    check_compatible(rules, field)
    return rules


def _forbidden_values(value: Any, field: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise InvalidParameterError(field, "must be a non-empty list of strings")
    if len(values) > MAX_FORBIDDEN_VALUES:
        raise InvalidParameterError(field, f"at most {MAX_FORBIDDEN_VALUES} values")
    for index, item in enumerate(values):
        if not isinstance(item, str) or not item.strip():
            raise InvalidParameterError(f"{field}[{index}]", "must be a non-empty string")
        if len(item) > MAX_RULE_TEXT:
            raise InvalidParameterError(f"{field}[{index}]", f"at most {MAX_RULE_TEXT} characters")
    return tuple(dict.fromkeys(values))


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise InvalidParameterError(field, f"must be one of {', '.join(choices)}")
    return value


def _rule_text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(field, "must be a non-empty string")
    if len(value) > MAX_RULE_TEXT:
        raise InvalidParameterError(field, f"at most {MAX_RULE_TEXT} characters")
    return value.strip()


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(field, "must be an integer")
    if not 1 <= value <= MAX_COUNT:
        raise InvalidParameterError(field, f"must be in [1, {MAX_COUNT}]")
    return value


# Character-level definitions (shared with the constraints) ------------------------------------------------


def is_emoji(char: str) -> bool:
    return EMOJI_CHAR.match(char) is not None


def has_emoji(text: str) -> bool:
    return EMOJI_CHAR.search(text) is not None


def casing_violated(casing: str, text: str) -> bool:
    return (UPPER_LETTER if casing == "lower" else LOWER_LETTER).search(text) is not None


def is_word_char(char: str) -> bool:
    return _WORD_CHAR.match(char) is not None


def forbidden_pattern(rule: Forbidden) -> re.Pattern[str]:
    """One regex for all values; word-like ends only match at a word boundary (see the module docstring)."""
    parts = []
    for value in sorted(rule.values, key=len, reverse=True):
        before = r"(?<!\w)" if is_word_char(value[0]) else ""
        after = r"(?!\w)" if is_word_char(value[-1]) else ""
        parts.append(f"{before}{re.escape(value)}{after}")
    return re.compile("|".join(parts), re.IGNORECASE if rule.ignore_case else 0)


@dataclass(frozen=True)
class TextCounts:
    """Words and sentences started so far, and where the text stands (the state of `count_step`)."""

    words: int = 0
    sentences: int = 0
    in_word: bool = False  # the current chunk already has a letter or digit
    in_sentence: bool = False  # the current sentence already has a letter or digit
    after_end: bool = False  # the text ends in a sentence end (plus closers): whitespace next closes it

    @property
    def shape(self) -> tuple[bool, bool, bool]:
        return (self.in_word, self.in_sentence, self.after_end)


def count_step(counts: TextCounts, text: str) -> TextCounts:
    """Counts after appending `text` (the one definition of words and sentences)."""
    words, sentences = counts.words, counts.sentences
    in_word, in_sentence, after_end = counts.in_word, counts.in_sentence, counts.after_end
    for char in text:
        if char.isspace():
            in_word = False
            if after_end:
                in_sentence = after_end = False
        elif char.isalnum():
            if not in_word:
                words += 1
                in_word = True
            if not in_sentence:
                sentences += 1
                in_sentence = True
            after_end = False
        elif char in SENTENCE_END:
            after_end = in_sentence
        elif char not in SENTENCE_CLOSERS:
            after_end = False
    return TextCounts(words, sentences, in_word, in_sentence, after_end)


def count_words(text: str) -> int:
    return count_step(TextCounts(), text).words


def count_sentences(text: str) -> int:
    return count_step(TextCounts(), text).sentences


def bullets_violated(text: str) -> bool:
    return any(line and not line.startswith("- ") for line in text.split("\n"))


def list_items_present(text: str) -> bool:
    return _LIST_ITEM.search(text) is not None


# Checking -------------------------------------------------------------------------------------------------


def rule_satisfied(rule: Rule, text: str) -> bool:
    """Whether `text` keeps `rule` (the definition the constraints enforce)."""
    if isinstance(rule, Forbidden):
        return forbidden_pattern(rule).search(text) is None
    if isinstance(rule, Casing):
        return not casing_violated(rule.value, text)
    if isinstance(rule, Opening):
        return text.lstrip().startswith(rule.value)
    if isinstance(rule, Closing):
        return text.rstrip().endswith(rule.value)
    if isinstance(rule, MaxWords):
        return count_words(text) <= rule.value
    if isinstance(rule, MaxSentences):
        return count_sentences(text) <= rule.value
    if isinstance(rule, ListStyle):
        return not bullets_violated(text) if rule.value == "bullets" else not list_items_present(text)
    if isinstance(rule, NoEmoji):
        return not has_emoji(text)
    raise TypeError(f"not a rule: {rule!r}")


def rules_satisfied(rules: Iterable[Rule], text: str) -> bool:
    return all(rule_satisfied(rule, text) for rule in rules)


def check_compatible(rules: Sequence[Rule], field: str = "rules") -> None:
    """Refuse, before decoding, a set of rules that no reply can keep (InvalidParameterError naming a rule)."""
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.type != "forbidden" and rule.type in seen:
            raise InvalidParameterError(f"{field}[{index}]", f"a second {rule.type} rule (only one is allowed)")
        seen.setdefault(rule.type, index)
    opening = next((rule for rule in rules if isinstance(rule, Opening)), None)
    closing = next((rule for rule in rules if isinstance(rule, Closing)), None)
    fixed = [(f"{field}[{rules.index(part)}]", part.value) for part in (opening, closing) if part is not None]
    for index, rule in enumerate(rules):
        where = f"{field}[{index}]"
        for fixed_field, text in fixed:
            if isinstance(rule, (Forbidden, Casing, NoEmoji, ListStyle)) and not rule_satisfied(rule, text):
                raise InvalidParameterError(
                    fixed_field, f"the fixed text {text!r} breaks the {rule.type} rule at {where}"
                )
        if isinstance(rule, (MaxWords, MaxSentences)) and fixed:
            count = count_words if isinstance(rule, MaxWords) else count_sentences
            needed = sum(count(text) for _, text in fixed)
            if needed > rule.value:
                raise InvalidParameterError(
                    where, f"the fixed opening/closing alone need {needed}, more than the limit of {rule.value}"
                )
    if opening is not None and closing is not None:
        joined = f"{opening.value}\n{closing.value}"
        for index, rule in enumerate(rules):
            if isinstance(rule, Forbidden) and not rule_satisfied(rule, joined):
                raise InvalidParameterError(f"{field}[{index}]", "the opening and closing together break this rule")

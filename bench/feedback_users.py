"""Simulated users of the feedback benchmark: deterministic editors, each applying one hidden preference.

An editor is built from a spec in the rules vocabulary (``{"type": "max_sentences", "value": 3}``,
``{"type": "forbidden", "value": ["very"], "ignore_case": true}``, ...), so the benchmark runs with any hidden
preference of a known type, not only the ones listed in ``DEFAULT_PREFERENCES``. ``edit`` is idempotent: a
reply that already follows the preference comes back unchanged, which the user rates up.

The metric is PRELUDE's: the word-level Levenshtein distance between the reply and the user's edit
(rapidfuzz on word lists); ``gain`` compares learning with no learning and with the oracle (the preference
stated as a principle from the first round).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from rapidfuzz.distance import Levenshtein

from alignment_engine.rules import EMOJI_CHAR

DEFAULT_PREFERENCES: tuple[dict[str, Any], ...] = (
    {"type": "max_sentences", "value": 3},
    {"type": "list_style", "value": "bullets"},
    {"type": "closing", "value": "Best regards."},
    {"type": "forbidden", "value": ["very"], "ignore_case": True},
    {"type": "casing", "value": "lower"},
    {"type": "forbidden", "value": ["!"]},
    {"type": "opening", "value": "Answer:"},
    {"type": "no_emoji"},
    {"type": "max_words", "value": 40},
)

LIST_MARKER_RE = re.compile(r"^(\s*)(?:[-*•]|\d+[.)])\s+")
SENTENCE_RE = re.compile(r"\S.*?(?:[.!?…]+[\"”')\]]*(?=\s|$)|$)")
WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SENTENCE_MARKS = "!?"


class SpecError(ValueError):
    """A hidden-preference spec that no editor can apply; the message names the field."""


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: lines split after ., !, ? or …, list markers not counted."""
    spans, offset = [], 0
    for line in text.splitlines(keepends=True):
        marker = LIST_MARKER_RE.match(line)
        body_start = marker.end() if marker else 0
        for match in SENTENCE_RE.finditer(line.rstrip("\r\n"), body_start):
            if WORD_RE.search(match.group()):
                spans.append((offset + match.start(), offset + match.end()))
        offset += len(line)
    return spans


def sentences(text: str) -> list[str]:
    return [text[start:end].strip() for start, end in _sentence_spans(text)]


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+([,.;:!?])", r"\1", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


class Editor(ABC):
    """One hidden preference: ``edit`` returns the reply as this user wants it."""

    type: ClassVar[str]

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)

    @abstractmethod
    def edit(self, text: str) -> str: ...

    def feedback(self, reply: str) -> dict[str, Any]:
        """What the user sends: rating up when nothing needed editing, else rating down and the edit."""
        edited = self.edit(reply)
        if edited == reply:
            return {"rating": "up"}
        return {"rating": "down", "corrected_text": edited}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def _positive_int(spec: Mapping[str, Any]) -> int:
    value = spec.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError("value: a positive integer is required")
    return value


def _text(spec: Mapping[str, Any]) -> str:
    value = spec.get("value")
    if not isinstance(value, str) or not value.strip():
        raise SpecError("value: a non-empty string is required")
    return value.strip()


class MaxSentences(Editor):
    type = "max_sentences"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.limit = _positive_int(spec)

    def edit(self, text: str) -> str:
        spans = _sentence_spans(text)
        return text if len(spans) <= self.limit else text[: spans[self.limit - 1][1]].rstrip()


class MaxWords(Editor):
    """Keeps the first N words (whitespace-separated chunks with a letter or digit) and ends with a period."""

    type = "max_words"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.limit = _positive_int(spec)

    def edit(self, text: str) -> str:
        found = [match for match in re.finditer(r"\S+", text) if WORD_RE.search(match.group())]
        if len(found) <= self.limit:
            return text
        kept = text[: found[self.limit - 1].end()].rstrip().rstrip(",;:—-")
        kept = re.sub(r"\n\s*(?:[-*•]|\d+[.)]?)\s*$", "", kept).rstrip()  # a list marker left alone on its line
        return kept if kept.endswith((".", "!", "?")) else kept + "."


class ListStyle(Editor):
    type = "list_style"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        if spec.get("value") not in ("bullets", "none"):
            raise SpecError('value: "bullets" or "none"')
        self.style = spec["value"]

    def edit(self, text: str) -> str:
        lines = [line for line in text.splitlines() if line.strip()]
        if self.style == "bullets":
            if lines and all(line.startswith("- ") for line in lines):
                return text
            return "\n".join("- " + sentence for sentence in sentences(text))
        if not any(LIST_MARKER_RE.match(line) for line in lines):
            return text
        items = [LIST_MARKER_RE.sub("", line).strip() for line in lines]
        return " ".join(item if item.endswith((".", "!", "?", ":")) else item + "." for item in items)


class Closing(Editor):
    type = "closing"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.line = _text(spec)

    def edit(self, text: str) -> str:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and lines[-1] == self.line:
            return text
        return text.rstrip() + "\n" + self.line


class Opening(Editor):
    type = "opening"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        self.prefix = _text(spec)

    def edit(self, text: str) -> str:
        return text if text.lstrip().startswith(self.prefix) else self.prefix + " " + text.lstrip()


class Forbidden(Editor):
    """Removes each forbidden word (and the space after it); ``!``/``?`` become ``.``, other marks go."""

    type = "forbidden"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        values = spec.get("value")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise SpecError("value: a non-empty list of non-empty strings is required")
        self.values = values
        self.flags = re.IGNORECASE if spec.get("ignore_case") else 0

    def _remove_word(self, text: str, word: str) -> str:
        pattern = re.compile(r"(?<![^\W_])" + re.escape(word) + r"(?![^\W_])[ \t]*", self.flags)
        pieces, last, capitalise = [], 0, False
        for match in pattern.finditer(text):
            kept = text[last : match.start()]
            pieces.append(kept[:1].upper() + kept[1:] if capitalise and kept else kept)
            capitalise = match.group()[:1].isupper() and (
                capitalise or not kept.strip() or kept.rstrip()[-1:] in ".!?\n"
            )
            last = match.end()
        rest = text[last:]
        pieces.append(rest[:1].upper() + rest[1:] if capitalise and rest else rest)
        return "".join(pieces)

    def edit(self, text: str) -> str:
        edited = text
        for value in self.values:
            if WORD_RE.fullmatch(value):
                edited = self._remove_word(edited, value)
            else:
                replacement = "." if value in SENTENCE_MARKS else ""
                edited = re.sub(re.escape(value), replacement, edited, flags=self.flags)
        return text if edited == text else _tidy(edited)


class Casing(Editor):
    type = "casing"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        if spec.get("value") not in ("lower", "upper"):
            raise SpecError('value: "lower" or "upper"')
        self.case = spec["value"]

    def edit(self, text: str) -> str:
        return text.lower() if self.case == "lower" else text.upper()


class NoEmoji(Editor):
    type = "no_emoji"

    def edit(self, text: str) -> str:
        return text if not EMOJI_CHAR.search(text) else _tidy(EMOJI_CHAR.sub("", text))


EDITORS: dict[str, type[Editor]] = {
    editor.type: editor for editor in (MaxSentences, MaxWords, ListStyle, Closing, Opening, Forbidden, Casing, NoEmoji)
}


def editor_from_spec(spec: Mapping[str, Any]) -> Editor:
    """The editor for a hidden preference; ``SpecError`` naming the field when the spec does not fit."""
    if not isinstance(spec, Mapping) or spec.get("type") not in EDITORS:
        raise SpecError(f"type: one of {', '.join(sorted(EDITORS))} is required")
    return EDITORS[spec["type"]](spec)


def word_edit_distance(reply: str, edited: str) -> int:
    """Word-level Levenshtein distance (PRELUDE's cost of the user's edit)."""
    return Levenshtein.distance(reply.split(), edited.split())


def gain(no_learning: float, learning: float, oracle: float) -> float | None:
    """``(no_learning - learning) / (no_learning - oracle)``; ``None`` when the oracle saves nothing."""
    if no_learning - oracle <= 0:
        return None
    return (no_learning - learning) / (no_learning - oracle)

"""Recognise a rule (`rules.py`) in a principle's free text with deterministic English patterns.

Precision first: a phrasing becomes a rule only when one pattern reads it unambiguously; anything soft
("be concise", "avoid jargon"), conditional ("use bullet points when listing steps"), graded ("don't use
'very' too often") or asking for more than we can enforce ("use at least three sentences") gives None, and
Linear Alignment steers it as before. A principle that asks for two rules at once gives None from
`recognise_rule` (`recognise_rules` returns both).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from alignment_engine.rules import (
    Casing,
    Closing,
    Forbidden,
    ListStyle,
    MaxSentences,
    MaxWords,
    NoEmoji,
    Opening,
    Rule,
    check_compatible,
)

NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "a single": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "a hundred": 100,
    "one hundred": 100,
    "hundred": 100,
}
_NUMBER = r"(?P<number>\d{1,5}|" + "|".join(sorted((re.escape(word) for word in NUMBERS), key=len, reverse=True)) + r")"
_QUOTED = r"(?<![A-Za-z])[\"“”'‘’`](?P<value>[^\"“”`]+?)[\"“”'‘’`](?![A-Za-z])"
_NEGATION = (
    r"(?:never|do not|don't|dont|please don't|must not|mustn't|should not|shouldn't|avoid|no|without|stop|refrain from)"
)
_REPLY = (
    r"(?:(?:every|each|all|any|your|the)\s+)?(?:(?:of\s+your|your)\s+)?"
    r"(?:reply|replies|answer|answers|response|responses|message|messages|email|emails|text|output)"
)

# Words that make a phrasing conditional, graded or partial: then it is not a rule we can keep exactly.
_HEDGES = re.compile(
    r"\b(?:when|whenever|if|unless|except|too|often|much|many|sparingly|mostly|usually|sometimes|overuse|excessive|"
    r"rarely|where possible|if possible|try|prefer|preferably|ideally|"
    r"for (?:names|titles|code|variable|headings|acronyms)|"
    r"at least|(?<!no )(?<!not )more than|minimum|or more)\b",
    re.IGNORECASE,
)

# Marks and symbols named in words -> the characters forbidden.
_SYMBOLS = {
    r"exclamation (?:marks?|points?)": ("!",),
    r"question marks?": ("?",),
    r"semicolons?": (";",),
    r"em[ -]?dash(?:es)?": ("—",),
    r"ellips[ie]s": ("…", "..."),
    r"hashtags?": ("#",),
    r"asterisks?": ("*",),
    r"ampersands?": ("&",),
}


def _number(text: str) -> int | None:
    text = text.lower().strip()
    if text.isdigit():
        return int(text)
    return NUMBERS.get(text)


def _forbidden_words(text: str) -> Rule | None:
    negated = re.search(
        rf"\b{_NEGATION}\s+(?:ever\s+)?(?:use|using|say|saying|write|writing|include|including|the|any|mention|mentioning)\b",
        text,
        re.IGNORECASE,
    ) or re.search(r"\b(?:is|are)\s+(?:forbidden|banned|not allowed)\b", text, re.IGNORECASE)
    if not negated:
        return None
    rest = text if negated.group(0).lower().startswith(("is", "are")) else text[negated.start() :]
    values = [match.group("value").strip() for match in re.finditer(_QUOTED, rest)]
    if not values:
        bare = re.search(r"\b(?:word|term|expression)\s+(?P<value>[A-Za-z][A-Za-z'-]*)\s*[.!]?$", rest, re.IGNORECASE)
        values = [bare.group("value")] if bare else []
    values = [value for value in values if value and len(value) <= 60]
    if not values:
        return None
    if not re.search(
        r"\b(?:word|words|term|terms|phrase|phrases|expression|say|saying|use|using|write|forbidden|banned)\b",
        text,
        re.IGNORECASE,
    ):
        return None
    return Forbidden(tuple(dict.fromkeys(values)), ignore_case=True)


def _forbidden_symbols(text: str) -> Rule | None:
    if not re.search(rf"\b{_NEGATION}\b", text, re.IGNORECASE):
        return None
    values: list[str] = []
    for pattern, symbols in _SYMBOLS.items():
        if re.search(rf"\b{pattern}\b", text, re.IGNORECASE):
            values.extend(symbols)
    return Forbidden(tuple(values), ignore_case=True) if values else None


def _casing(text: str) -> Rule | None:
    lower = r"(?:lower[- ]?case|small letters)"
    upper = r"(?:upper[- ]?case|all caps|all capitals|capital letters|block capitals|caps)"
    negative_upper = re.search(
        rf"\b{_NEGATION}\s+(?:use\s+|using\s+)?(?:any\s+)?"
        r"(?:capital letters|capitals|upper[- ]?case(?: letters)?|capitali[sz](?:e|ation|ing))\b",
        text,
        re.IGNORECASE,
    ) or re.search(r"\bnever capitali[sz]e\b", text, re.IGNORECASE)
    if negative_upper:
        return Casing("lower")
    scope = (
        r"(?:everything|all|only|entirely|always|every\s+(?:reply|answer|response|word|letter)"
        r"|reply|respond|answer|write|type|text)"
    )
    if re.search(rf"\b{scope}\b.*\b{lower}\b|\b{lower}\s+only\b|^\s*(?:all\s+)?{lower}\s*[.!]?$", text, re.IGNORECASE):
        return Casing("lower")
    if re.search(rf"\b{scope}\b.*\b{upper}\b|\b{upper}\s+only\b|^\s*(?:all\s+)?{upper}\s*[.!]?$", text, re.IGNORECASE):
        if re.search(rf"\b{_NEGATION}\b", text, re.IGNORECASE):
            return None  # "never write in all caps" means something else than "write in all caps"
        return Casing("upper")
    return None


def _opening(text: str) -> Rule | None:
    match = re.search(
        rf"\b(?:start|begin|open|preface)\s+(?:(?:each|every|all|any|your)\s+)?(?:{_REPLY}\s+)?(?:always\s+)?"
        rf"(?:with|by saying|by writing)\s+(?:the\s+(?:words?|phrase|greeting)\s+)?{_QUOTED}",
        text,
        re.IGNORECASE,
    ) or re.search(rf"\b(?:greet me|address me)\s+(?:always\s+)?(?:with|as)\s+{_QUOTED}", text, re.IGNORECASE)
    return Opening(match.group("value").strip()) if match else None


def _closing(text: str) -> Rule | None:
    match = re.search(
        rf"\b(?:end|finish|close|conclude|sign off|sign)\s+(?:(?:each|every|all|any|your)\s+)?(?:{_REPLY}\s+)?"
        rf"(?:always\s+)?(?:with|by saying|by writing)\s+(?:the\s+(?:words?|phrase|line|sign-?off)\s+)?{_QUOTED}",
        text,
        re.IGNORECASE,
    )
    return Closing(match.group("value").strip()) if match else None


def _limit(text: str, unit: str) -> int | None:
    """The largest count allowed by phrasings like 'at most N <unit>s' or 'under N <unit>s'."""
    units = rf"{unit}s?"
    strict = re.search(
        rf"\b(?:under|fewer than|less than|below|shorter than)\s+{_NUMBER}\s+{units}\b", text, re.IGNORECASE
    )
    if strict:
        number = _number(strict.group("number"))
        return number - 1 if number and number > 1 else None
    patterns = (
        r"\b(?:at most|no more than|not more than|maximum of|a maximum of|max(?:imum)?\.?|up to|within|"
        r"limit(?:ed)? to|"
        rf"keep (?:it|them|replies|answers|responses|your (?:replies|answers|responses)) to|in|to|only|just|exactly)\s+"
        rf"(?:of\s+)?{_NUMBER}\s+{units}\b",
        rf"\b{_NUMBER}\s+{units}\s+(?:or (?:less|fewer)|max(?:imum)?|at most|tops)\b",
        rf"\b{_NUMBER}[- ]{unit}\s+(?:limit|maximum|max)\b",
        rf"\b{unit} limit of\s+{_NUMBER}\b",
    )
    inclusive = next((match for match in (re.search(p, text, re.IGNORECASE) for p in patterns) if match), None)
    if inclusive:
        return _number(inclusive.group("number"))
    return None


def _max_words(text: str) -> Rule | None:
    if not re.search(
        r"\b(?:answer|reply|respond|keep|write|use|limit|response|responses|replies|answers|it|max|maximum|"
        r"under|at most|no more than|fewer|less)\b",
        text,
        re.IGNORECASE,
    ):
        return None
    number = _limit(text, "word")
    return MaxWords(number) if number else None


def _max_sentences(text: str) -> Rule | None:
    number = _limit(text, "sentence")
    return MaxSentences(number) if number else None


def _list_style(text: str) -> Rule | None:
    lists = r"(?:bullet(?:ed)?[- ]points?|bullets|bullet(?:ed)? lists?|bulleted form|lists)"
    if re.search(
        rf"\b{_NEGATION}\s+(?:use\s+|using\s+|any\s+|write\s+)?(?:in\s+)?{lists}\b", text, re.IGNORECASE
    ) or re.search(rf"\bprose\b.*\bno\s+{lists}\b", text, re.IGNORECASE):
        return ListStyle("none")
    if re.search(rf"\b{_NEGATION}\b", text, re.IGNORECASE):
        return None
    positive = re.search(
        rf"\b(?:use|answer|reply|respond|format|write|give|put|present|structure)\b.*\b(?:as|in|with|using|into)?\s*"
        rf"(?:a\s+)?{lists}\b|^\s*(?:only\s+)?{lists}(?:\s+only)?\s*[.!]?$",
        text,
        re.IGNORECASE,
    )
    if positive and not re.search(r"\b(?:numbered|ordered)\b", text, re.IGNORECASE):
        return ListStyle("bullets")
    return None


def _no_emoji(text: str) -> Rule | None:
    if re.search(
        rf"\b{_NEGATION}\s+(?:use\s+|using\s+|any\s+|add\s+|adding\s+|include\s+)?(?:any\s+)?(?:emojis?|emoticons?|smileys?)\b",
        text,
        re.IGNORECASE,
    ) or re.search(r"\b(?:emojis?|emoticons?)\s+(?:are\s+)?(?:forbidden|banned|not allowed)\b", text, re.IGNORECASE):
        return NoEmoji()
    return None


RECOGNISERS: tuple[Callable[[str], Rule | None], ...] = (
    _no_emoji,
    _list_style,
    _casing,
    _max_sentences,
    _max_words,
    _forbidden_symbols,
    _forbidden_words,
)


def recognise_rules(text: str) -> tuple[Rule, ...]:
    """Every rule the text states unambiguously (none for a soft, conditional or graded principle)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 500:
        return ()
    return _recognised(text)


@functools.lru_cache(maxsize=4096)
def _recognised(text: str) -> tuple[Rule, ...]:
    """recognise_rules, once per text (rules are immutable; the service asks again for every principle it reads)."""
    clean = " ".join(text.split())
    unquoted = re.sub(_QUOTED, "''", clean)
    if _HEDGES.search(unquoted):
        return ()
    found = [rule for rule in (_opening(clean), _closing(clean)) if rule is not None]
    for rule in found:  # the fixed text says it all: words inside it ("start with 'No emoji'") are no rule
        clean = clean.replace(rule.value, "")
    for recognise in RECOGNISERS:
        rule = recognise(clean)
        if rule is not None and rule not in found:
            found.append(rule)
    if any(isinstance(rule, Forbidden) and rule.values != ("!",) for rule in found):
        found = [rule for rule in found if not isinstance(rule, ListStyle)]
    try:
        check_compatible(found)
    except ValueError:
        return ()
    return tuple(found)


def recognise_rule(text: str) -> Rule | None:
    """The one rule the principle states, or None when it states none, several, or is unsure."""
    found = recognise_rules(text)
    return found[0] if len(found) == 1 else None


_DOUBLE_QUOTED = re.compile(r"(\"[^\"]*\"|“[^”]*”)")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def _sentences(text: str) -> list[str]:
    """The text's sentences; a sentence end inside double quotes ("Indeed." as a fixed opening) splits nothing."""
    sentences, current = [], ""
    for part in _DOUBLE_QUOTED.split(text):
        if part.startswith(('"', "“")):
            current += part
            continue
        pieces = _SENTENCE_BREAK.split(part)
        current += pieces[0]
        for piece in pieces[1:]:
            sentences.append(current)
            current = piece
    sentences.append(current)
    return [sentence.strip() for sentence in sentences if sentence.strip(" \t\n.!?")]


@functools.lru_cache(maxsize=4096)
def states_only_rules(text: str) -> bool:
    """Whether every sentence of the text states a rule, so that the rules say all the text asks for (then the
    engine keeps the principle by its rules alone and leaves it out of the Linear Alignment contrast)."""
    sentences = _sentences(text) if isinstance(text, str) else []
    return bool(sentences) and all(recognise_rules(sentence) for sentence in sentences)

"""What a correction changed: measurable differences between a reply and the text the user wanted instead.

``observe(reply, corrected)`` compares the two texts and returns one ``Observation`` per difference it can
measure: language, casing, length (sentences, words), list formatting, punctuation removed, a fixed opening or
closing added, words removed (or replaced) everywhere, emoji removed. Each carries the measured value, a
strength in [0, 1] (how clearly this one pair shows it), a candidate principle in plain English, the check it
stands for and, when the engine has one, the machine-checkable rule.

Local edits are told apart from rewrites by aligning the two texts word by word (rapidfuzz Levenshtein opcodes
on casefolded tokens): a word or a punctuation mark counts as removed "in context" only where the words
around it were kept, so cutting a paragraph does not read as "never use the words of that paragraph".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import Levenshtein

from preferences.learning import measures
from preferences.learning.phrasing import LANGUAGE_NAMES, PUNCTUATION_NAMES, engine_rule, principle_text, quote

MAX_EDIT_SPAN = 3  # tokens: a longer deletion is a cut, not a word being avoided
MAX_AFFIX_WORDS = 12  # a longer added opening or closing is new content, not a fixed formula
MIN_AFFIX_ANCHOR = 3  # kept tokens next to an added opening or closing
MIN_LANGUAGE_WORDS = 6
MIN_LANGUAGE_PROBABILITY = 0.95
MIN_CASING_LETTERS = 20


@dataclass(frozen=True)
class Observation:
    """One measured difference and the principle it suggests.

    ``group`` names "the same evidence" across feedbacks (for example ``forbidden:very``); observations of one
    group are confirmations of each other. ``check`` is what a text must satisfy to follow the principle;
    ``rule`` is the same in the engine's rules vocabulary, or ``None`` where the engine has no such rule.
    """

    kind: str
    group: str
    value: Any
    strength: float
    text: str
    check: dict[str, Any]
    rule: dict[str, Any] | None
    detail: str


def group_of(check: dict[str, Any]) -> str:
    """The evidence group of a check: its type, and its value where a different value is another preference."""
    if check["type"] in ("max_sentences", "max_words", "min_sentences", "no_emoji"):
        return check["type"]
    value = check["value"]
    value = ",".join(value) if isinstance(value, list) else str(value)
    return f"{check['type']}:{' '.join(value.split()).casefold()}"


def observation_of(check: dict[str, Any], strength: float, detail: str, text: str | None = None) -> Observation:
    """An observation asking for ``check``, worded by ``phrasing`` unless ``text`` is given."""
    return Observation(
        kind=check["type"],
        group=group_of(check),
        value=check.get("value", True),
        strength=round(min(1.0, max(0.0, strength)), 3),
        text=text or principle_text(check),
        check=check,
        rule=engine_rule(check),
        detail=detail,
    )


def _count_strength(count: int) -> float:
    """1 occurrence 0.5, 2 -> 0.75, 3 -> 0.875: each further instance halves the doubt."""
    return 1.0 - 0.5**count


@dataclass
class _Pair:
    """The two texts, their tokens and the word-level alignment."""

    reply: str
    corrected: str
    reply_tokens: list[measures.Token] = field(init=False)
    corrected_tokens: list[measures.Token] = field(init=False)
    opcodes: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.reply_tokens = measures.tokens(self.reply)
        self.corrected_tokens = measures.tokens(self.corrected)
        self.opcodes = list(
            Levenshtein.opcodes([t.norm for t in self.reply_tokens], [t.norm for t in self.corrected_tokens])
        )

    @property
    def kept_share(self) -> float:
        """Share of the reply's tokens that the correction kept in place."""
        kept = sum(op.src_end - op.src_start for op in self.opcodes if op.tag == "equal")
        return kept / len(self.reply_tokens) if self.reply_tokens else 0.0

    def kept_pairs(self) -> list[tuple[measures.Token, measures.Token]]:
        pairs = []
        for op in self.opcodes:
            if op.tag == "equal":
                for offset in range(op.src_end - op.src_start):
                    pairs.append(
                        (self.reply_tokens[op.src_start + offset], self.corrected_tokens[op.dest_start + offset])
                    )
        return pairs

    def local_edits(self) -> list[tuple[list[measures.Token], list[measures.Token]]]:
        """(removed, inserted) tokens of each small deletion or replacement between kept tokens."""
        edits = []
        for index, op in enumerate(self.opcodes):
            if op.tag not in ("delete", "replace") or op.src_end - op.src_start > MAX_EDIT_SPAN:
                continue
            if op.tag == "replace" and op.dest_end - op.dest_start > MAX_EDIT_SPAN:
                continue
            before = index > 0 and self.opcodes[index - 1].tag == "equal"
            after = index + 1 < len(self.opcodes) and self.opcodes[index + 1].tag == "equal"
            if before or after:
                edits.append(
                    (self.reply_tokens[op.src_start : op.src_end], self.corrected_tokens[op.dest_start : op.dest_end])
                )
        return edits


def _language(pair: _Pair) -> list[Observation]:
    # A translation keeps few words in place; an edit of the same text is never a change of language.
    shorter = min(measures.word_count(pair.reply), measures.word_count(pair.corrected))
    if pair.kept_share >= 0.5 or shorter < MIN_LANGUAGE_WORDS:
        return []
    reply_code, reply_probability = measures.language(pair.reply)
    corrected_code, corrected_probability = measures.language(pair.corrected)
    if corrected_code == reply_code or min(reply_probability, corrected_probability) < MIN_LANGUAGE_PROBABILITY:
        return []
    detail = (
        f"the reply is in {LANGUAGE_NAMES[reply_code]} (p={reply_probability:.2f}), "
        f"the correction in {LANGUAGE_NAMES[corrected_code]} (p={corrected_probability:.2f})"
    )
    check = {"type": "language", "value": corrected_code}
    return [observation_of(check, 0.9, detail)]


def _casing(pair: _Pair) -> list[Observation]:
    reply_upper, reply_lower = measures.letter_case_counts(pair.reply)
    upper, lower = measures.letter_case_counts(pair.corrected)
    if upper + lower < MIN_CASING_LETTERS:
        return []
    for value, wrong_in_reply, wrong_in_correction in (("lower", reply_upper, upper), ("upper", reply_lower, lower)):
        if wrong_in_correction == 0 and wrong_in_reply >= 2:
            name = "upper-case" if value == "lower" else "lower-case"
            detail = f"the correction has no {name} letters, the reply had {wrong_in_reply}"
            return [observation_of({"type": "casing", "value": value}, 0.9, detail)]
    return []


def _cut_mid_sentence(pair: _Pair) -> bool:
    """Whether the correction is the reply cut short inside a sentence or line (by words, not by sentences)."""
    kept = len(pair.corrected_tokens)
    if not 0 < kept < len(pair.reply_tokens):
        return False
    if [t.norm for t in pair.reply_tokens[:kept]] != [t.norm for t in pair.corrected_tokens]:
        return False
    last, following = pair.reply_tokens[kept - 1], pair.reply_tokens[kept]
    return not last.ends_sentence and "\n" not in pair.reply[last.end : following.start]


def _length(pair: _Pair) -> list[Observation]:
    reply_sentences, sentences = measures.sentence_count(pair.reply), measures.sentence_count(pair.corrected)
    reply_words, words = measures.word_count(pair.reply), measures.word_count(pair.corrected)
    if not words or not reply_words:
        return []
    counts = (
        f"the correction has {sentences} sentence(s) and {words} words, "
        f"the reply had {reply_sentences} and {reply_words}"
    )
    cut_mid_sentence = _cut_mid_sentence(pair)
    if sentences < reply_sentences and words < reply_words and not cut_mid_sentence:
        strength = 1.5 * (reply_sentences - sentences) / reply_sentences
        return [observation_of({"type": "max_sentences", "value": sentences}, strength, counts)]
    if reply_words >= 20 and words <= 0.7 * reply_words and (sentences == reply_sentences or cut_mid_sentence):
        limit = -(-words // 10) * 10
        return [observation_of({"type": "max_words", "value": limit}, 1.5 * (1 - words / reply_words), counts)]
    if sentences >= reply_sentences + 2 and words >= 1.5 * reply_words:
        strength = (sentences - reply_sentences) / sentences
        return [observation_of({"type": "min_sentences", "value": sentences}, strength, counts)]
    return []


def _lists(pair: _Pair) -> list[Observation]:
    reply_style, style = measures.list_style(pair.reply), measures.list_style(pair.corrected)
    if style == reply_style or style == "mixed":
        return []
    if style == "none":
        items = measures.list_lines(pair.reply)
        detail = f"the correction has no list lines, the reply had {items}"
    else:
        items = measures.list_lines(pair.corrected)
        marker = '"- "' if style == "bullets" else "numbered"
        detail = f"every line of the correction is a {marker} item ({items}), the reply's were not"
    if items < 2:
        return []
    return [observation_of({"type": "list_style", "value": style}, 0.6 if items < 3 else 0.85, detail)]


def _punctuation(pair: _Pair) -> list[Observation]:
    found = []
    kept_pairs = pair.kept_pairs()
    for mark, name in PUNCTUATION_NAMES.items():
        if mark in pair.corrected or mark not in pair.reply:
            continue
        removed = sum(max(0, old.raw.count(mark) - new.raw.count(mark)) for old, new in kept_pairs)
        if removed:
            detail = (
                f"the correction removed every {mark!r} ({name}; {removed} in kept words, "
                f"{pair.reply.count(mark)} in the reply)"
            )
            check = {"type": "forbidden", "value": [mark], "ignore_case": True}
            found.append(observation_of(check, _count_strength(removed), detail))
    return found


def _affix_text(text: str) -> str | None:
    affix = text.strip()
    if not measures.words(affix) or len(measures.words(affix)) > MAX_AFFIX_WORDS:
        return None
    return affix


def _affixes(pair: _Pair) -> list[Observation]:
    found = []
    ops = pair.opcodes
    if (
        len(ops) >= 2
        and ops[0].tag == "insert"
        and ops[1].tag == "equal"
        and ops[1].src_end - ops[1].src_start >= min(MIN_AFFIX_ANCHOR, len(pair.reply_tokens))
    ):
        first_kept = pair.corrected_tokens[ops[1].dest_start]
        opening = _affix_text(measures.LIST_ITEM_RE.sub("", pair.corrected[: first_kept.start].strip()))
        if opening:
            own_line = "\n" in pair.corrected[: first_kept.start]
            detail = f"the correction starts with {quote(opening)}, which the reply lacked"
            check = {"type": "opening", "value": opening}
            found.append(observation_of(check, 0.7 if own_line else 0.6, detail))
    if (
        len(ops) >= 2
        and ops[-1].tag == "insert"
        and ops[-2].tag == "equal"
        and ops[-2].src_end == len(pair.reply_tokens)
        and ops[-2].src_end - ops[-2].src_start >= min(MIN_AFFIX_ANCHOR, len(pair.reply_tokens))
    ):
        last_kept = pair.corrected_tokens[ops[-2].dest_end - 1]
        tail = pair.corrected[last_kept.end :]
        closing = _affix_text(measures.lines(tail)[-1] if "\n" in tail.strip() else tail)
        if closing:
            own_line = "\n" in tail
            detail = f"the correction ends with {quote(closing)}, which the reply lacked"
            check = {"type": "closing", "value": closing}
            found.append(observation_of(check, 0.7 if own_line else 0.6, detail))
    return found


def _words(pair: _Pair) -> list[Observation]:
    """Words removed (or always replaced by one other word) in context, and absent from the whole correction."""
    corrected_words = Counter(measures.words(pair.corrected))
    reply_words = Counter(measures.words(pair.reply))
    removed: Counter[str] = Counter()
    replacements: dict[str, Counter[str]] = {}
    for old_tokens, new_tokens in pair.local_edits():
        for token in old_tokens:
            if token.norm.isalpha() and token.norm not in corrected_words:
                removed[token.norm] += 1
                if len(old_tokens) == 1 and len(new_tokens) == 1 and new_tokens[0].norm.isalpha():
                    replacements.setdefault(token.norm, Counter())[new_tokens[0].norm] += 1
    found = []
    for word, count in sorted(removed.items()):
        if not reply_words.get(word):
            continue
        check = {"type": "forbidden", "value": [word], "ignore_case": True}
        substitutes = replacements.get(word, Counter())
        if len(substitutes) == 1 and sum(substitutes.values()) == count:
            substitute = next(iter(substitutes))
            detail = f"the correction replaced every {quote(word)} by {quote(substitute)} ({count} times)"
            text = f"Say {quote(substitute)} instead of {quote(word)}."
        else:
            detail = (
                f"the correction removed every {quote(word)} ({count} in context, {reply_words[word]} in the reply)"
            )
            text = None
        observation = observation_of(check, _count_strength(count), detail, text)
        found.append(observation)
    return found


def _emoji(pair: _Pair) -> list[Observation]:
    count = measures.emoji_count(pair.reply)
    if not count or measures.emoji_count(pair.corrected) or pair.kept_share < 0.5:
        return []
    detail = f"the correction removed all {count} emoji of the reply and kept {pair.kept_share:.0%} of its words"
    return [observation_of({"type": "no_emoji"}, _count_strength(count), detail)]


MEASURES = (_language, _casing, _length, _lists, _punctuation, _affixes, _words, _emoji)


def observe(reply: str, corrected: str) -> list[Observation]:
    """Every measurable difference between ``reply`` and ``corrected`` (empty when they do not differ)."""
    if re.sub(r"\s+", " ", reply).strip() == re.sub(r"\s+", " ", corrected).strip():
        return []
    pair = _Pair(reply, corrected)
    return [observation for measure in MEASURES for observation in measure(pair)]

"""Rules (`rules.py`) as per-step decoding constraints: allowed-token masks, forced tokens, a length budget.

The decode loop drives one `RuleConstraints` per request:

    state = RuleConstraints.for_request(rules, vocabulary, eos_token_ids, max_new_tokens=config.max_new_tokens)
    each step:
        token = state.forced_token()                    # the opening at the start, the closing + end at the end
        if token is None:
            mask = state.allowed_mask()                 # torch.BoolTensor over the vocabulary, or None (no limit)
            ... apply mask to the combined logits and the plausibility nucleus (empty nucleus: best allowed token)
            token = state.resolve(chosen)               # an end-of-turn while a closing is due becomes the closing
        (with a casing rule, `state.redirect(logits)` first: a refused " The" lends its score to " the")
        state.advance(token)

How it stays cheap: each rule is a small automaton over characters whose state after a token depends only on
its state before and the token's text, so the allowed-token row of every (rule, state) is computed once per
vocabulary (vectorised over the joined token texts, or one pass over the vocabulary) and cached; a step is a
dictionary look-up, the AND of a few cached rows (itself cached) and the automaton run over one token's text.

Exactness: a token is allowed only if the text with it still keeps every rule, under the definitions of
`rules.py`. Forbidden values are matched with end-of-text as a word boundary, so a token that ends on a whole
forbidden word is refused even though a letter could follow ("not" is refused, "nothing" allowed): the model
is never cornered into finishing a word it cannot finish. Length limits end at a sentence end: the budget
refuses tokens that would start a word (or sentence) beyond it; at the word limit only a token that ends the
sentence is allowed, and once the text ends a sentence with the budget spent the reply is ended (closing first,
when there is one). With `max_new_tokens` the closing is kept inside it, and the last token leaves no bare "-".
Text is followed at the byte level; under a masking rule a token may not end inside a UTF-8 character (what
the character becomes is not known yet, so no rule could vouch for it).

Masks are shared, cached tensors: read them, never modify them in place.
"""

from __future__ import annotations

import bisect
import codecs
import itertools
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from alignment_engine.config import InvalidParameterError
from alignment_engine.rules import (
    EMOJI_CHAR,
    LIST_MARKERS,
    LOWER_LETTER,
    UPPER_LETTER,
    Casing,
    Closing,
    Forbidden,
    ListStyle,
    MaxSentences,
    MaxWords,
    NoEmoji,
    Opening,
    Rule,
    TextCounts,
    casing_violated,
    check_compatible,
    count_sentences,
    count_step,
    count_words,
    forbidden_pattern,
    is_word_char,
    parse_rule,
)

MAX_CACHED_ROWS = 512  # allowed-token rows kept per vocabulary (49152 tokens: 48 KiB each)
_SEPARATOR = "\x00"


class Vocabulary:
    """The byte string of every token of a tokenizer, with per-vocabulary caches of constraint rows."""

    def __init__(
        self, token_bytes: Sequence[bytes], special_ids: Iterable[int], encode: Callable[[str], list[int]]
    ) -> None:
        self.token_bytes = tuple(token_bytes)
        self.size = len(self.token_bytes)
        self.special_ids = frozenset(token for token in special_ids if 0 <= token < self.size)
        self.text_tokens = np.ones(self.size, dtype=bool)  # tokens that are text (not special)
        self.text_tokens[list(self.special_ids)] = False
        self._encode = encode
        self.most_added: tuple[int, int] | None = None  # see _most_added
        self._texts: OrderedDict[bytes, list[str]] = OrderedDict()
        self._rows: OrderedDict[Any, Any] = OrderedDict()

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, size: int | None = None) -> Vocabulary:
        """Built once per tokenizer object and cached; `size` pads to the model's logit count."""
        key = (size,)
        try:
            cached = _VOCABULARIES.setdefault(tokenizer, {})
        except TypeError:  # not weak-referenceable
            cached = _STRONG_VOCABULARIES.setdefault(id(tokenizer), {})
        if key not in cached:
            cached[key] = cls._build(tokenizer, size)
        return cached[key]

    @classmethod
    def _build(cls, tokenizer: Any, size: int | None) -> Vocabulary:
        if hasattr(tokenizer, "token_bytes"):  # the llama.cpp tokenizer: token_bytes(id) and is_control(id)
            count = int(tokenizer.vocab_size)
            pieces = [bytes(tokenizer.token_bytes(token)) for token in range(count)]
            special = [token for token in range(count) if tokenizer.is_control(token)]
        else:
            pieces, special = _byte_level_pieces(tokenizer)
        special.extend(getattr(tokenizer, "all_special_ids", []) or [])
        if size is not None and size > len(pieces):
            special.extend(range(len(pieces), size))
            pieces.extend(b"" for _ in range(size - len(pieces)))

        def encode(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        return cls(pieces, special, encode)

    def encode(self, text: str) -> list[int]:
        return self._encode(text)

    def texts(self, pending: bytes = b"") -> list[str]:
        """Each token's complete characters when it follows `pending` (an unfinished UTF-8 character)."""
        if pending not in self._texts:
            self._texts[pending] = [
                "" if token in self.special_ids else _continue_utf8(pending, piece)[0]
                for token, piece in enumerate(self.token_bytes)
            ]
            while len(self._texts) > 8:
                self._texts.popitem(last=False)
        self._texts.move_to_end(pending)
        return self._texts[pending]

    def complete_tokens(self, pending: bytes = b"") -> np.ndarray:
        """Tokens that, after `pending`, leave no unfinished UTF-8 character behind."""

        def compute() -> np.ndarray:
            return np.fromiter(
                (not _continue_utf8(pending, piece)[1] for piece in self.token_bytes), bool, count=self.size
            )

        return self.row(("complete", pending), compute)

    def continue_text(self, pending: bytes, token: int) -> tuple[str, bytes]:
        """(complete characters, bytes of an unfinished character) after `token` follows `pending`."""
        if token in self.special_ids:
            return "", pending
        return _continue_utf8(pending, self.token_bytes[token])

    def row(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A cached table of this vocabulary, computed on first use: a row (a numpy array over the vocabulary) or
        any other per-tokenizer table, such as the repetition guard's breaker ids; the least recently used go
        first, so keys a request chooses cannot grow it without bound."""
        row = self._rows.get(key)
        if row is None:
            row = compute()
            self._rows[key] = row
            while len(self._rows) > MAX_CACHED_ROWS:
                self._rows.popitem(last=False)
        else:
            self._rows.move_to_end(key)
        return row

    def case_twins(self, casing: str) -> torch.Tensor:
        """Per token: the token spelling its text in `casing` ("lower"/"upper"), or itself when there is none."""

        def compute() -> torch.Tensor:
            by_bytes = {piece: token for token, piece in enumerate(self.token_bytes) if token not in self.special_ids}
            twins = np.arange(self.size, dtype=np.int64)
            for token, text in enumerate(self.texts()):
                if text and casing_violated(casing, text):
                    cased = text.lower() if casing == "lower" else text.upper()
                    twins[token] = by_bytes.get(cased.encode("utf-8"), token)
            return torch.from_numpy(twins)

        return self.row(("case_twins", casing), compute)

    def matching_tokens(self, prefix: str, pattern: Any, pending: bytes = b"") -> np.ndarray:
        """Tokens whose text, after `prefix`, has a match of `pattern` (one search over all texts joined)."""
        texts = self.texts(pending)
        segments = [prefix + text for text in texts]
        joined = _SEPARATOR.join(segments)
        starts = list(itertools.accumulate((len(segment) + 1 for segment in segments), initial=0))
        hit = np.zeros(self.size, dtype=bool)
        found = {bisect.bisect_right(starts, match.start()) - 1 for match in pattern.finditer(joined)}
        if found:
            hit[list(found)] = True
        return hit


_VOCABULARIES: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
_STRONG_VOCABULARIES: dict[int, dict] = {}


def _continue_utf8(pending: bytes, piece: bytes) -> tuple[str, bytes]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    decoder.setstate((pending, 0))
    text = decoder.decode(piece, final=False)
    return text, decoder.getstate()[0]


def _byte_level_pieces(tokenizer: Any) -> tuple[list[bytes], list[int]]:
    """Token bytes of a byte-level BPE tokenizer (GPT-2 style, as SmolLM2's) from its token strings."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    count = len(tokenizer)
    added = {token for token in getattr(tokenizer, "added_tokens_decoder", {})}
    pieces, special = [], list(added)
    for token, name in enumerate(tokenizer.convert_ids_to_tokens(list(range(count)))):
        if token in added or name is None:
            pieces.append(b"")
            continue
        try:
            pieces.append(bytes(to_byte[char] for char in name))
        except KeyError:
            raise ValueError("the tokenizer is not byte-level BPE; give it a token_bytes(token) method") from None
    return pieces, special


# Trackers: one per masking rule; a state is hashable and small ------------------------------------------------


class _ForbiddenTracker:
    """No forbidden value in the text. State: the text's end that can still begin a match, canonicalised."""

    def __init__(self, rule: Forbidden, vocabulary: Vocabulary) -> None:
        self.rule = rule
        self.vocabulary = vocabulary
        self.pattern = forbidden_pattern(rule)
        self.values = [value.lower() if rule.ignore_case else value for value in rule.values]
        self.longest = max(len(value) for value in self.values)
        used = set("".join(self.values)) | set("".join(rule.values).upper())
        # Stand-ins for "some word character" / "some other character" before the tail: in no value.
        self.word_stand_in = next(char for char in "\u02acqzxjkwvy_0" if char not in used)
        self.other_stand_in = next(char for char in "\x01\x02\x03" if char not in used)

    def start(self) -> str:
        return ""  # start of text: no character before

    def advance(self, state: str, text: str) -> str:
        if not text:
            return state
        tail = state + text
        for size in range(min(len(tail), self.longest - 1), 0, -1):
            end = tail[-size:]
            key = end.lower() if self.rule.ignore_case else end
            if any(value.startswith(key) for value in self.values):
                if size == len(tail):
                    return end  # at the start of the text
                return self._stand_in(tail[-size - 1]) + end
        return self._stand_in(tail[-1])

    def _stand_in(self, char: str) -> str:
        if char in (self.word_stand_in, self.other_stand_in):
            return char
        return self.word_stand_in if is_word_char(char) else self.other_stand_in

    def row(self, state: str, pending: bytes) -> np.ndarray:
        return self.vocabulary.row(("forbidden", self.rule, state, pending), lambda: self._row(state, pending))

    def _row(self, state: str, pending: bytes) -> np.ndarray:
        """Refuse the tokens whose text, after the state, has a match; only plausible candidates are searched."""
        texts = self.vocabulary.texts(pending)
        folded = self._folded(pending)
        candidates = set(self._containing(pending))  # a whole value inside the token (any state)
        tail = state.lower() if self.rule.ignore_case else state
        rests = tuple(
            value[size:]
            for value in self.values
            for size in range(1, min(len(value), len(tail)) + 1)
            if tail.endswith(value[:size])
        )
        if rests:  # a value begun in the state and finished by the token
            candidates.update(token for token, text in enumerate(folded) if text.startswith(rests))
        allowed = np.ones(self.vocabulary.size, dtype=bool)
        refused = [token for token in candidates if self.pattern.search(state + texts[token])]
        allowed[refused] = False
        return allowed

    def _folded(self, pending: bytes) -> list[str]:
        texts = self.vocabulary.texts(pending)
        if not self.rule.ignore_case:
            return texts
        return self.vocabulary.row(("lowered", pending), lambda: [text.lower() for text in texts])

    def _containing(self, pending: bytes) -> list[int]:
        def compute() -> list[int]:
            folded = self._folded(pending)
            joined = _SEPARATOR.join(folded)
            starts = list(itertools.accumulate((len(text) + 1 for text in folded), initial=0))
            found: set[int] = set()
            for value in self.values:
                position = joined.find(value)
                while position >= 0:
                    found.add(bisect.bisect_right(starts, position) - 1)
                    position = joined.find(value, position + 1)
            return sorted(found)

        return self.vocabulary.row(("containing", self.rule, pending), compute)

    def can_end(self, state: str) -> bool:
        return True


class _PatternFreeTracker:
    """Stateless rules: no character of a class (upper/lower-case letters, emoji) in the text."""

    def __init__(self, kind: str, pattern: Any, vocabulary: Vocabulary) -> None:
        self.kind = kind
        self.pattern = pattern
        self.vocabulary = vocabulary

    def start(self) -> None:
        return None

    def advance(self, state: None, text: str) -> None:
        return None

    def row(self, state: None, pending: bytes) -> np.ndarray:
        return self.vocabulary.row(
            (self.kind, pending), lambda: ~self.vocabulary.matching_tokens("", self.pattern, pending)
        )

    def can_end(self, state: None) -> bool:
        return True


class _LineTracker:
    """list_style: a small automaton over line starts, run over every token once per state."""

    BULLET_STATES = ("line_start", "dash", "body")

    def __init__(self, style: str, vocabulary: Vocabulary) -> None:
        self.style = style
        self.vocabulary = vocabulary

    def start(self) -> str:
        return "line_start" if self.style == "bullets" else "lead"

    def advance(self, state: str, text: str) -> str:
        step = self._bullet_step if self.style == "bullets" else self._plain_step
        for char in text:
            state = step(state, char)
        return state

    def _run(self, state: str, text: str, last: bool = False) -> str | None:
        step = self._bullet_step if self.style == "bullets" else self._plain_step
        for char in text:
            state = step(state, char)
            if state == "broken":
                return None
        if self.style == "none" and state in ("marker", "number_end"):
            return None  # a list marker whose fate the next token decides: refused (see the module docstring)
        if last and not self.can_end(state):
            return None  # the reply's last token may not leave a bare "-"
        return state

    @staticmethod
    def _bullet_step(state: str, char: str) -> str:
        if state == "line_start":
            return "line_start" if char == "\n" else "dash" if char == "-" else "broken"
        if state == "dash":
            return "body" if char == " " else "broken"
        return "line_start" if char == "\n" else state

    @staticmethod
    def _plain_step(state: str, char: str) -> str:
        if char == "\n":
            return "lead"
        if state == "lead":
            if char in " \t":
                return "lead"
            if char in LIST_MARKERS:
                return "marker"
            return "number" if "0" <= char <= "9" else "body"
        if state == "number":
            if "0" <= char <= "9":
                return "number"
            return "number_end" if char in ".)" else "body"
        if state in ("marker", "number_end"):
            return "broken" if char in " \t" else "body"
        return state

    def row(self, state: str, pending: bytes, last: bool = False) -> np.ndarray:
        def compute() -> np.ndarray:
            texts = self.vocabulary.texts(pending)
            return np.fromiter((self._run(state, text, last) is not None for text in texts), bool)

        return self.vocabulary.row(("list_style", self.style, state, pending, last), compute)

    def can_end(self, state: str) -> bool:
        return state != "dash"


def _count_tables(vocabulary: Vocabulary, shape: tuple[bool, bool, bool], pending: bytes) -> np.ndarray:
    """Per token after a text of `shape`: words added, sentences added, has whitespace, leaves a sentence end."""

    def compute() -> np.ndarray:
        start = TextCounts(0, 0, *shape)
        table = np.zeros((4, vocabulary.size), dtype=np.int16)
        words, sentences, spaces, ends = [], [], [], []
        for text in vocabulary.texts(pending):
            counts = count_step(start, text)
            words.append(counts.words)
            sentences.append(counts.sentences)
            spaces.append(any(char.isspace() for char in text))
            ends.append(counts.after_end)
        table[0], table[1], table[2], table[3] = words, sentences, spaces, ends
        return table

    return vocabulary.row(("counts", shape, pending), compute)


def _most_added(vocabulary: Vocabulary) -> tuple[int, int]:
    """The most words / sentences any one token can add (after an unfinished character: one more)."""
    if vocabulary.most_added is None:
        table = _count_tables(vocabulary, (False, False, False), b"")
        vocabulary.most_added = (int(table[0].max()) + 1, int(table[1].max()) + 1)
    return vocabulary.most_added


# The per-request state ----------------------------------------------------------------------------------------


class RuleConstraints:
    """Constraint state of one request: what may come next, what must come next, and `advance`."""

    def __init__(
        self,
        rules: Sequence[Rule],
        vocabulary: Vocabulary,
        eos_token_ids: Iterable[int],
        max_new_tokens: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.rules = tuple(rules)
        self.vocabulary = vocabulary
        self._eos_order = list(dict.fromkeys(eos_token_ids))  # the first is the one forced at the end
        if not self._eos_order:
            raise ValueError("eos_token_ids must name at least one token")
        self.eos_token_ids = frozenset(self._eos_order)
        self.device = torch.device(device)
        self._trackers: list[Any] = []
        for rule in self.rules:
            if isinstance(rule, Forbidden):
                self._trackers.append(_ForbiddenTracker(rule, vocabulary))
            elif isinstance(rule, Casing):
                pattern = UPPER_LETTER if rule.value == "lower" else LOWER_LETTER
                self._trackers.append(_PatternFreeTracker(f"casing-{rule.value}", pattern, vocabulary))
            elif isinstance(rule, NoEmoji):
                self._trackers.append(_PatternFreeTracker("no_emoji", EMOJI_CHAR, vocabulary))
            elif isinstance(rule, ListStyle):
                self._trackers.append(_LineTracker(rule.value, vocabulary))
        self._states: list[Any] = [tracker.start() for tracker in self._trackers]
        casing = next((rule.value for rule in self.rules if isinstance(rule, Casing)), None)
        self._twins = vocabulary.case_twins(casing).to(self.device) if casing else None
        opening = next((rule.value for rule in self.rules if isinstance(rule, Opening)), None)
        closing = next((rule.value for rule in self.rules if isinstance(rule, Closing)), None)
        self.closing = closing
        reserve_words = count_words(closing) if closing else 0
        reserve_sentences = count_sentences(closing) if closing else 0
        self.word_budget = next((rule.value - reserve_words for rule in self.rules if isinstance(rule, MaxWords)), None)
        self.sentence_budget = next(
            (rule.value - reserve_sentences for rule in self.rules if isinstance(rule, MaxSentences)), None
        )
        self.max_new_tokens = max_new_tokens
        self._closing_tokens = self._closing_ids("\n") if closing else []
        self._forced: deque[int] = deque(vocabulary.encode(opening) if opening else [])
        needed = len(self._forced) + (len(self._closing_tokens) + 1 if closing else 0)
        if max_new_tokens is not None and needed > max_new_tokens:
            raise InvalidParameterError("max_new_tokens", f"the opening and closing need {needed} tokens")
        self.counts = TextCounts()
        self.pending = b""
        self.generated = 0
        self.ending = False  # the closing (if any) and the end-of-turn are queued
        self.done = False
        self._last_char = ""

    @classmethod
    def for_request(
        cls,
        rules: Sequence[Rule | dict],
        vocabulary: Vocabulary,
        eos_token_ids: Iterable[int],
        max_new_tokens: int | None = None,
        device: torch.device | str = "cpu",
    ) -> RuleConstraints:
        """Check the rules (refusing impossible combinations before decoding) and build the state."""
        parsed = tuple(parse_rule(rule, f"rules[{index}]") for index, rule in enumerate(rules))
        check_compatible(parsed)
        return cls(parsed, vocabulary, eos_token_ids, max_new_tokens, device)

    @property
    def masks_anything(self) -> bool:
        return bool(self._trackers) or self.word_budget is not None or self.sentence_budget is not None

    # The loop's three calls ------------------------------------------------------------------------------

    def forced_token(self) -> int | None:
        """The token that must come next (opening, closing, end of turn), or None: the model chooses."""
        if self.done:
            return None
        closing_due = self.closing and not self.ending and self.max_new_tokens is not None
        if closing_due and not self._forced and self.max_new_tokens - self.generated <= len(self._closing_tokens) + 1:
            self._start_ending()
        return self._forced[0] if self._forced else None

    def allowed_mask(self) -> torch.Tensor | None:
        """Allowed next tokens (True = allowed) on `device`, or None when nothing is limited this step."""
        if self._forced or self.done or not self.masks_anything:
            return None
        count_limits = self._count_limits()
        last = self.max_new_tokens is not None and self.generated + 1 >= self.max_new_tokens
        key = ("mask", self.rules, tuple(self._states), self.pending, count_limits, last, self.device)
        return self.vocabulary.row(key, lambda: self._combined_mask(count_limits, last))

    def _combined_mask(
        self, count_limits: tuple[int | None, int | None, tuple[bool, bool, bool]] | None, last: bool
    ) -> torch.Tensor:
        # A token ending inside a character is refused: no rule could tell what the character becomes.
        mask = self.vocabulary.text_tokens & self.vocabulary.complete_tokens(self.pending)
        can_end = not self.pending
        for tracker, state in zip(self._trackers, self._states, strict=True):
            if isinstance(tracker, _LineTracker):
                mask &= tracker.row(state, self.pending, last)
            else:
                mask &= tracker.row(state, self.pending)
            can_end = can_end and tracker.can_end(state)
        if count_limits is not None:
            mask &= self._count_row(*count_limits)
        eos = [token for token in self._eos_order if token < mask.size]
        mask[eos] = can_end
        if not mask.any():
            mask[eos] = True  # no text can follow: ending is the only way to keep the rules
        return torch.from_numpy(mask).to(self.device)

    def redirect(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (last dim: the vocabulary) where a token the casing rule refuses lends its score to its twin.

        " The" refused under lower case gives its logit to " the" (the larger of the two is kept), so the reply
        says what the model meant in the allowed case instead of falling to an unrelated token. Apply it to each
        stream's logits before combining (or to the combined and the nucleus logits), then the mask. Without a
        casing rule the logits come back unchanged.
        """
        if self._twins is None:
            return logits
        index = self._twins[: logits.shape[-1]].expand_as(logits)
        return logits.scatter_reduce(-1, index, logits, reduce="amax", include_self=True)

    def resolve(self, token_id: int) -> int:
        """The token to emit for the loop's choice: an end of turn while a closing is due starts the closing."""
        if token_id in self.eos_token_ids and self.closing and not self.ending and not self.done:
            self._start_ending()
            return self._forced[0]
        return token_id

    def advance(self, token_id: int) -> None:
        """Record the emitted token (forced or chosen) and update every rule's state."""
        if self._forced:
            if token_id != self._forced[0]:
                raise ValueError(f"token {token_id} emitted where {self._forced[0]} was forced")
            self._forced.popleft()
        self.generated += 1
        if token_id in self.eos_token_ids:
            self.done = True
            return
        text, self.pending = self.vocabulary.continue_text(self.pending, token_id)
        if text:
            self._last_char = text[-1]
            self._states = [
                tracker.advance(state, text) for tracker, state in zip(self._trackers, self._states, strict=True)
            ]
            self.counts = count_step(self.counts, text)
        if not self._forced and not self.ending and self._budget_spent() and self.counts.after_end:
            self._start_ending()

    # Length budget ---------------------------------------------------------------------------------------

    def _budget_spent(self) -> bool:
        return (self.word_budget is not None and self.counts.words >= self.word_budget) or (
            self.sentence_budget is not None and self.counts.sentences >= self.sentence_budget
        )

    def _count_limits(self) -> tuple[int | None, int | None, tuple[bool, bool, bool]] | None:
        """(words left, sentences left, text shape) when a budget is close enough to refuse some tokens."""
        if self.word_budget is None and self.sentence_budget is None:
            return None
        words_left = None if self.word_budget is None else max(self.word_budget - self.counts.words, 0)
        sentences_left = None if self.sentence_budget is None else max(self.sentence_budget - self.counts.sentences, 0)
        # Far from the limit (more left than one token can add) nothing is refused.
        most_words, most_sentences = _most_added(self.vocabulary)
        words_left = words_left if words_left is not None and words_left < most_words else None
        sentences_left = sentences_left if sentences_left is not None and sentences_left < most_sentences else None
        if words_left is None and sentences_left is None:
            return None
        return (words_left, sentences_left, self.counts.shape)

    def _count_row(
        self, words_left: int | None, sentences_left: int | None, shape: tuple[bool, bool, bool]
    ) -> np.ndarray:
        def compute() -> np.ndarray:
            table = _count_tables(self.vocabulary, shape, self.pending)
            allowed = np.ones(self.vocabulary.size, dtype=bool)
            if words_left is not None:
                allowed &= table[0] <= words_left
                if words_left == 0:  # at the limit: only a token that ends the sentence (then the reply ends)
                    allowed &= (table[2] == 0) & (table[3] == 1)
            if sentences_left is not None:
                allowed &= table[1] <= sentences_left
            return allowed

        return self.vocabulary.row(("budget", words_left, sentences_left, shape, self.pending), compute)

    # Ending ----------------------------------------------------------------------------------------------

    def _closing_ids(self, separator: str) -> list[int]:
        return self.vocabulary.encode(separator + self.closing) if self.closing else []

    def _start_ending(self) -> None:
        self.ending = True
        tokens: list[int] = []
        if self.closing:
            at_line_start = self._last_char == "" or self._last_char.isspace()
            tokens = self._closing_ids("" if at_line_start else "\n")
        tokens.append(self._eos_order[0])
        self._forced = deque(tokens)

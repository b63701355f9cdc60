"""Incremental detokenisation with stop strings: deltas never contain half a character or half a stop."""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


class IncrementalText:
    """Decodes a growing token list and hands out only text that can no longer change.

    A byte-level BPE token may end in the middle of a UTF-8 character (decoded as U+FFFD until the next
    token completes it), and the end of the text may be the start of a stop string: both are held back.
    """

    def __init__(self, tokenizer: Any, stop: tuple[str, ...] = ()) -> None:
        self._tokenizer = tokenizer
        self._stop = stop
        self._ids: list[int] = []
        self._emitted = 0
        self.text = ""
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add a token; returns the new text that is safe to show."""
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        stop_at = self._stop_position(text)
        if stop_at is not None:
            self.text = text[:stop_at]
            self.stopped = True
            return self._take(len(self.text))
        self.text = text
        return self._take(self._safe_end(text))

    def flush(self) -> str:
        """The rest of the text once decoding is over."""
        return self._take(len(self.text))

    def _take(self, end: int) -> str:
        if end <= self._emitted:
            return ""
        delta = self.text[self._emitted : end]
        self._emitted = end
        return delta

    def _stop_position(self, text: str) -> int | None:
        positions = [text.find(stop) for stop in self._stop]
        found = [p for p in positions if p >= 0]
        return min(found) if found else None

    def _safe_end(self, text: str) -> int:
        end = len(text.rstrip(REPLACEMENT))
        longest = max((len(stop) for stop in self._stop), default=0)
        for size in range(min(longest - 1, end), 0, -1):
            tail = text[end - size : end]
            if any(stop.startswith(tail) for stop in self._stop):
                return end - size
        return end

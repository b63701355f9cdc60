"""What a pure function made of a database row, kept per process and given again for the same row.

A client polling a job reads the same row again and again until the job moves. Turning that row into its API
representation (the column converters, the model instances, the serializer) cost about as much web CPU again as
running the query. A `RowMemo` keeps, for the last rows a process read through one lookup (core.compiled_queries,
`CompiledLookup.first_derived`), the row exactly as the database driver returned it and what was derived from it.
The query still runs on every request; only when it returns the identical row is the derivation given again.
Nothing is served that the database did not just return: a row that changed in any column is derived afresh.

"Identical" is stricter than `==` where `==` would join values that a derivation can tell apart: values of
different types, floats by their bits (`0.0 == -0.0`), anything outside the plain column types by its `repr`
(`Decimal("1.0") == Decimal("1.00")`); datetimes are compared by their UTC offset as well as their instant (more
than a derivation needs, and never less).

The derivation must depend on the row and the key alone: whatever else it reads (an active timezone, say) belongs
in the key. What it returns is shared by every caller that reads the same row, so it should be immutable (the job
poll keeps the bytes of its JSON). Each process keeps at most `max_entries` rows (the first kept is the first let
go), and none whose text (the row's text and bytes columns, and the derived value when it is text or bytes) exceeds
`max_text` characters, so the memo holds at most about `max_entries * max_text` characters of text.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable
from datetime import date, datetime, time
from typing import Any, Generic, TypeVar

D = TypeVar("D")

MISSING: Any = object()
# Types whose equal values (of the same type) are the same value for any derivation.
_EXACT_BY_EQUALITY = frozenset({str, int, bool, bytes, uuid.UUID, date, type(None)})


def same_value(a: Any, b: Any) -> bool:
    kind = type(a)
    if kind is not type(b):
        return False
    if kind in _EXACT_BY_EQUALITY:
        return a == b
    if kind is float:
        return a.hex() == b.hex()
    if kind in (datetime, time):
        return a == b and a.utcoffset() == b.utcoffset()
    return repr(a) == repr(b)


def same_row(a: tuple, b: tuple) -> bool:
    """Whether two rows hold the same values, column by column (stricter than `==`: see the module's text)."""
    return a == b and all(map(same_value, a, b))


def text_size(values) -> int:
    return sum(len(value) for value in values if type(value) is str or type(value) is bytes)


class RowMemo(Generic[D]):
    """For each key (a lookup's values), the last row read and what was derived from it."""

    def __init__(self, *, max_entries: int = 256, max_text: int = 16_384) -> None:
        self.max_entries = max_entries
        self.max_text = max_text
        self._entries: dict[Hashable, tuple[tuple, D]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, row: tuple) -> D:
        """What was derived from this very row under this key, or MISSING."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or not same_row(entry[0], row):
            return MISSING
        return entry[1]

    def put(self, key: Hashable, row: tuple, derived: D) -> None:
        if self.max_entries <= 0 or text_size((*row, derived)) > self.max_text:
            return
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (row, derived)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

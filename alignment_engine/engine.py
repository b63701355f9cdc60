"""The interface every backend provides (torch here, llama.cpp in llamacpp_backend.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from alignment_engine.types import GenerationRequest, GenerationResult, StreamEvent

DeltaCallback = Callable[[int, str], None]
CancelCheck = Callable[[int], bool]


@runtime_checkable
class Engine(Protocol):
    model_id: str
    backend: str
    device: str

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """One reply."""
        ...

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_delta: DeltaCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        """Replies for several requests decoded together; results in request order."""
        ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Text deltas as tokens are decided; the last event carries the result."""
        ...

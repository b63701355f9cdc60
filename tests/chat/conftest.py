"""Unit-test wiring for the chat domain: Celery in eager mode and a scripted engine in the worker's holder.

The engine here is a stand-in with the alignment_engine interface (deltas, cancellation, batching) so these
tests exercise the job plumbing; tests/integration/ runs real workers with the real model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from django.core.cache import cache

from alignment_engine import GenerationRequest, GenerationResult, InvalidParameterError
from worker import engine as engine_holder


class ScriptedEngine:
    """Replies "echo <last user message> (<n> principles, alpha <a>)", one word per decoding step."""

    model_id = "scripted/echo"
    backend = "scripted"
    device = "cpu"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.fail_with: Exception | None = None
        self.refuse_content: str | None = None  # a request with this last message is refused

    def reply_words(self, request: GenerationRequest) -> list[str]:
        text = (
            f"echo {request.messages[-1]['content']} ({len(request.principles)} principles, "
            f"alpha {request.config.alpha})"
        )
        return text.split(" ")[: request.config.max_new_tokens]

    def generate_batch(self, requests: Sequence[GenerationRequest], on_delta=None, should_cancel=None):
        self.batches.append(len(requests))
        if self.fail_with is not None:
            raise self.fail_with
        if any(request.messages[-1]["content"] == self.refuse_content for request in requests):
            raise InvalidParameterError("messages", "the prompt does not fit the context window")
        started = time.monotonic()
        words = [self.reply_words(request) for request in requests]
        produced: list[list[str]] = [[] for _ in requests]
        finish = [None] * len(requests)
        for step in range(max(len(w) for w in words)):
            for index in range(len(requests)):
                if finish[index]:
                    continue
                if should_cancel and should_cancel(index):
                    finish[index] = "cancelled"
                    continue
                if step >= len(words[index]):
                    finish[index] = "eos"
                    continue
                piece = words[index][step] if step == 0 else " " + words[index][step]
                produced[index].append(piece)
                if on_delta:
                    on_delta(index, piece)
        return [
            GenerationResult(
                text="".join(produced[index]),
                tokens=len(produced[index]),
                prompt_tokens=7,
                finish_reason=finish[index]
                or ("length" if len(words[index]) == request.config.max_new_tokens else "eos"),
                seconds=time.monotonic() - started,
                timings={"decode": 0.0},
                model_id=self.model_id,
                backend=self.backend,
                config=request.config,
            )
            for index, request in enumerate(requests)
        ]

    def generate(self, request: GenerationRequest) -> GenerationResult:
        return self.generate_batch([request])[0]


@pytest.fixture(autouse=True)
def scripted_engine(monkeypatch, settings) -> ScriptedEngine:
    """Eager Celery (tasks run inside the request that queues them) and the scripted engine."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.GENERATION_IN_PROCESS = False
    from config.celery_app import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    monkeypatch.setattr(app.conf, "task_eager_propagates", True)
    engine = ScriptedEngine()
    monkeypatch.setattr(engine_holder, "get_engine", lambda: engine)
    return engine


@pytest.fixture(autouse=True)
def clear_throttle_history():
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("throttle_*")
    else:
        cache.clear()


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks):
    """`with run_jobs(): client.post(...)` runs what was queued on commit (eager tasks) before returning."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def conversation(alice):
    from assistant.services import conversation_create

    return conversation_create(user=alice, title="Trip")
